use sea_orm::entity::prelude::*;

/// A usage report as produced for its period: its content never changes;
/// only its transmission is recorded later.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub view: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub produced_at: DateTimeUtc,
    pub content: String,
    pub sha256: String,
    pub recipient: Option<String>,
    pub transmitted_at: Option<DateTimeUtc>,
    pub transmitted_by: Option<String>,
    pub transmission_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
