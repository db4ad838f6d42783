use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "countries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub display_name: String,
    pub kind: String,
    pub required_languages: String,
    pub required_clearance: String,
    pub required_certifications: String,
    pub association_date: Option<Date>,
    pub reserve_coverage_from: Option<Date>,
    pub single_point_of_contact: Option<String>,
    pub capability_info_received: Option<Date>,
    pub capability_info_updated: Option<Date>,
    pub specific_conditions: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
