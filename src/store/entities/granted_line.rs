use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "granted_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub support_request_id: i64,
    pub position: i32,
    pub service: String,
    pub person_days: i32,
    pub languages: String,
    pub clearance: String,
    pub planned_use: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
