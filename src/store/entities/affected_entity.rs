use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "affected_entities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub support_request_id: i64,
    pub position: i32,
    pub name: String,
    pub sector: String,
    pub entity_type: String,
    pub country_code: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
