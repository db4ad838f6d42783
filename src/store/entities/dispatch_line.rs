use sea_orm::entity::prelude::*;

/// The approved plan of one granted line: providers in order of offer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dispatch_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub support_request_id: i64,
    pub line_index: i32,
    /// The granted line's service (waiting lines are found by it).
    pub service: String,
    pub state: String,
    /// JSON array of provider ids.
    pub plan: String,
    pub next_candidate: i32,
    pub justification: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
