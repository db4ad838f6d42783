use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub support_request_id: i64,
    pub support_request_uid: String,
    pub line_index: i32,
    pub provider_id: String,
    pub commitment_id: i32,
    pub person_days: i32,
    pub state: String,
    pub accept_deadline: DateTimeUtc,
    pub decline_reason: Option<String>,
    pub decline_note: Option<String>,
    pub agreement_reference: Option<String>,
    pub agreement_template_version: Option<String>,
    pub agreement_signed_at: Option<DateTimeUtc>,
    pub agreement_liability: Option<String>,
    pub agreement_affected_entity: Option<String>,
    pub delivery_note: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
