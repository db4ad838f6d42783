use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "eligibility_evaluations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub support_request_id: i64,
    pub evaluated_at: DateTimeUtc,
    pub rule_set_version: String,
    pub outcome: String,
    /// JSON array of rule results.
    pub results: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
