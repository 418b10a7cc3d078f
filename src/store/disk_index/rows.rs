//! A kv scan with its next row in hand: listings look at a row before
//! deciding to take it, skip past a roll-up, or stop at a range's end.

use bytes::Bytes;

use crate::store::kv::iter::KvIter;
use crate::store::kv::Kv;
use crate::store::types::StoreError;

pub struct Rows {
    it: KvIter,
    head: Option<(Vec<u8>, Bytes)>,
}

impl Rows {
    /// Rows from the first key at or after `from`.
    pub async fn open(kv: &Kv, from: &[u8]) -> Result<Rows, StoreError> {
        let mut it = kv.scan(from).await?;
        let head = it.next().await?;
        Ok(Rows { it, head })
    }

    pub fn head(&self) -> Option<&(Vec<u8>, Bytes)> {
        self.head.as_ref()
    }

    pub async fn advance(&mut self) -> Result<(), StoreError> {
        self.head = self.it.next().await?;
        Ok(())
    }

    /// Moves on to the first row at or after `target`; never back.
    pub async fn seek(&mut self, target: &[u8]) -> Result<(), StoreError> {
        match &self.head {
            None => return Ok(()),
            Some((k, _)) if k.as_slice() >= target => return Ok(()),
            Some(_) => {}
        }
        self.it.seek(target).await?;
        self.head = self.it.next().await?;
        Ok(())
    }
}
