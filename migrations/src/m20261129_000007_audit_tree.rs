//! The audit log as a Merkle tree (RFC 9162): its perfect subtrees' hashes
//! by node (`domain::merkle::Node::key`), the size and root of the tree
//! integrated so far (one row, locked by the integrator), and the signed
//! checkpoints. The tree is built again from the events after an upgrade.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SHA-256 of nothing: the root of the empty tree.
const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditTreeNodes::Table)
                    .col(big_integer(AuditTreeNodes::Id).primary_key())
                    .col(string_len(AuditTreeNodes::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditTreeHead::Table)
                    .col(integer(AuditTreeHead::Id).primary_key())
                    .col(big_integer(AuditTreeHead::Size))
                    .col(string_len(AuditTreeHead::Root, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditTreeHead::Table)
                    .columns([AuditTreeHead::Id, AuditTreeHead::Size, AuditTreeHead::Root])
                    .values_panic([1.into(), 0i64.into(), EMPTY_ROOT.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(big_integer(AuditCheckpoints::TreeSize).primary_key())
                    .col(string_len(AuditCheckpoints::RootHash, 64))
                    .col(timestamp_with_time_zone(AuditCheckpoints::CreatedAt))
                    .col(text(AuditCheckpoints::Note))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditCheckpoints::Table.into_iden(),
            AuditTreeHead::Table.into_iden(),
            AuditTreeNodes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuditTreeNodes {
    Table,
    Id,
    Hash,
}

#[derive(DeriveIden)]
enum AuditTreeHead {
    Table,
    Id,
    Size,
    Root,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    TreeSize,
    RootHash,
    CreatedAt,
    Note,
}
