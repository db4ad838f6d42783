use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "summary_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub support_request_id: i64,
    pub service_provided: String,
    pub results: String,
    pub lessons_learned: String,
    /// JSON array.
    pub recipients: String,
    pub submitted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
