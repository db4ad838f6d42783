use sea_orm::entity::prelude::*;

/// An event committed by its writer and not yet sealed into the chain.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_pending")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub actor: String,
    pub role: String,
    pub organisation: String,
    pub action: String,
    pub resource: String,
    pub from_state: String,
    pub to_state: String,
    pub payload: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
