use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "support_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub uid: String,
    pub reference: String,
    pub organisation_id: String,
    pub organisation_kind: String,
    pub country_code: String,
    pub request_id: String,
    pub body_hash: String,
    pub state: String,
    pub version: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    pub classification: String,
    pub capacity_exceeded_declared: bool,
    pub severity: String,
    pub detected_at: DateTimeUtc,
    pub countries_affected: String,
    pub potential_impact: String,
    pub mitigation_measures: String,
    pub other_support: String,
    pub tlp: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
    pub decision_note: Option<String>,
    /// JSON of the priority score with its parts.
    pub priority: Option<String>,
    pub priority_total: Option<f64>,
    pub response_deadline: Option<DateTimeUtc>,
    pub decided_at: Option<DateTimeUtc>,
    pub granted_duration_days: Option<i32>,
    pub completed_at: Option<DateTimeUtc>,
    pub report_overdue: bool,
    /// The aggregate's parts, as the domain's values serialise.
    #[sea_orm(column_type = "JsonBinary")]
    pub affected_entities: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub service_lines: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub evaluations: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub granted_lines: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub summary_report: Option<Json>,
    /// Sort key of the assessment queue (`domain::priority::queue_key`).
    pub queue_key: Option<String>,
    /// The single point of contact the request goes through.
    pub contact_point: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub transmission: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub assessment: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub support: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
