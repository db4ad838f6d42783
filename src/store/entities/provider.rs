use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub display_name: String,
    pub country_code: String,
    pub status: String,
    pub services: String,
    pub languages: String,
    pub deployable_countries: String,
    pub clearance: String,
    pub certifications: String,
    pub hours_to_deploy: i32,
    pub conflict_organisations: String,
    pub conflict_countries: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
