use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "capacity_commitments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub provider_id: String,
    pub service: String,
    pub person_days: i32,
    pub held_days: i32,
    pub consumed_days: i32,
    pub period_start: Date,
    pub period_end: Date,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
