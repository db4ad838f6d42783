use sea_orm::entity::prelude::*;

/// A conversion of unused pre-committed capacity into a preparedness
/// service (Art. 14(2)).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub commitment_id: i32,
    pub provider_id: String,
    pub service: String,
    pub organisation_id: String,
    pub preparedness_service: String,
    pub person_days: i32,
    pub description: String,
    pub state: String,
    pub proposed_by: String,
    pub decline_note: Option<String>,
    pub delivery_note: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
