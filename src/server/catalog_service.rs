//! Catalog changes: any shard asks shard 0, which applies the change,
//! persists it, and installs the new snapshot on every shard before
//! answering — so a new bucket or a deactivated key is seen everywhere once
//! the change is acknowledged. DeleteBucket first fences the bucket on
//! every shard (`bucket_delete`).

use super::bucket_delete::fence_empty_bucket;
use super::datadir::save_catalog;
use super::shard::ShardCtx;
use crate::catalog::{apply, Catalog, CatalogError, CatalogOp, CatalogOutcome};
use crate::shard::msg::{ShardMsg, VersionedCatalog};
use futures_channel::oneshot;
use std::sync::Arc;

/// Applies `op` through shard 0, from any shard.
pub async fn change(ctx: &ShardCtx, op: CatalogOp) -> Result<CatalogOutcome, CatalogError> {
    if ctx.id == 0 {
        return apply_on_owner(ctx, op).await;
    }
    let (tx, rx) = oneshot::channel();
    ctx.send(0, ShardMsg::CatalogChange { op, reply: tx })
        .await
        .map_err(|_| CatalogError::Persist("shard 0 is not answering".into()))?;
    rx.await
        .unwrap_or_else(|_| Err(CatalogError::Persist("shard 0 dropped the change".into())))
}

/// Runs on shard 0 only.
pub async fn apply_on_owner(ctx: &ShardCtx, op: CatalogOp) -> Result<CatalogOutcome, CatalogError> {
    let Some(owner) = ctx.catalog_owner.as_ref() else {
        return Err(CatalogError::Persist(
            "catalog change sent to a shard that does not own the catalog".into(),
        ));
    };
    // DeleteBucket: the bucket is fenced on every shard and empty there.
    let fences = match &op {
        CatalogOp::DeleteBucket { name } => Some(fence_empty_bucket(ctx, name).await?),
        _ => None,
    };
    // No await between apply and persist: changes on shard 0 are serial.
    let (outcome, snapshot) = {
        let mut o = owner.borrow_mut();
        let mut data = o.data.clone();
        if let (Some(f), CatalogOp::DeleteBucket { name }) = (&fences, &op) {
            // Deleted, or deleted and re-created, while fenced: this attempt
            // fenced an incarnation that is gone.
            if data
                .buckets
                .iter()
                .all(|b| b.name != *name || b.id != f.bucket)
            {
                return Err(CatalogError::NoSuchBucket);
            }
        }
        let outcome = apply(&mut data, op, crate::util::time::unix_now_millis())?;
        save_catalog(&o.dir, &data).map_err(CatalogError::Persist)?;
        o.data = data;
        o.version += 1;
        let snap = Arc::new(VersionedCatalog {
            version: o.version,
            catalog: Catalog::new(o.data.clone()),
        });
        (outcome, snap)
    };
    // Persisted: each shard drops the bucket and refuses writes into it as
    // it installs this snapshot, which makes its fence moot.
    if let Some(f) = fences {
        f.keep();
    }
    broadcast(ctx, snapshot).await;
    Ok(outcome)
}

/// Installs `snapshot` on every shard and waits until each has it.
async fn broadcast(ctx: &ShardCtx, snapshot: Arc<VersionedCatalog>) {
    ctx.install_catalog(snapshot.clone());
    let mut acks = Vec::new();
    for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
        let (tx, rx) = oneshot::channel();
        if ctx
            .send(
                shard,
                ShardMsg::CatalogUpdate {
                    catalog: snapshot.clone(),
                    reply: tx,
                },
            )
            .await
            .is_ok()
        {
            acks.push(rx);
        }
    }
    for rx in acks {
        let _ = rx.await;
    }
}
