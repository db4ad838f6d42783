use sea_orm::entity::prelude::*;

/// The single row holding the last sequence and hash of the audit chain. Every
/// write transaction locks it first on PostgreSQL, which serialises appends
/// across processes, and writes it back at its commit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub last_sequence: i64,
    pub last_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
