use sea_orm::entity::prelude::*;

/// One movement of the capacity ledger: HOLD, CONSUME or RELEASE, for an
/// offer or a conversion.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "capacity_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub commitment_id: i32,
    pub offer_id: Option<String>,
    pub conversion_id: Option<String>,
    pub kind: String,
    pub person_days: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
