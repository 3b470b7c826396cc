//! The catalogue's read side: pages of entries for a query, entries by path, counts.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use lora_core::PartialPath;
use rusqlite::params_from_iter;

use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::index::{COLUMNS, entry};
use crate::query::Query;
use crate::row::{Entry, Page};

impl Catalog {
    /// The page of entries `query` asks for.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn query(&self, query: &Query) -> Result<Page, CatalogError> {
        let (filter, params) = query.filter();
        let generation = self.generation.load(Ordering::SeqCst);
        let page_key = format!(
            "{filter}\u{0}{params:?}\u{0}{}\u{0}{}\u{0}{}",
            query.order_by(),
            query.limit,
            query.offset
        );
        if let Some(page) = self.pages.get(&page_key, generation) {
            return Ok(page);
        }
        // Another page of the same filter shares its count.
        let count_key = format!("{filter}\u{0}{params:?}");
        let db = self.reader();
        let total = match self.counts.get(&count_key, generation) {
            Some(total) => total,
            None => {
                let total: i64 = db.query_row(
                    &format!("SELECT count(*) FROM files {filter}"),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )?;
                let total = usize::try_from(total).unwrap_or(0);
                self.counts.put(count_key, generation, total);
                total
            }
        };
        let mut page_params = params;
        page_params.push((query.limit as i64).into());
        page_params.push((query.offset as i64).into());
        let sql = format!(
            "SELECT {COLUMNS} FROM files {filter} {} LIMIT ? OFFSET ?",
            query.order_by()
        );
        let mut stmt = db.prepare(&sql)?;
        let items = stmt
            .query_map(params_from_iter(page_params.iter()), entry)?
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        let page = Page { items, total };
        self.pages.put(page_key, generation, page.clone());
        Ok(page)
    }

    /// The entries of `paths` that the index holds, by path.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn entries(
        &self,
        paths: &[PartialPath],
    ) -> Result<HashMap<PartialPath, Entry>, CatalogError> {
        let mut out = HashMap::new();
        if paths.is_empty() {
            return Ok(out);
        }
        let db = self.reader();
        for chunk in paths.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut stmt = db.prepare(&format!(
                "SELECT {COLUMNS} FROM files WHERE path IN ({marks})"
            ))?;
            let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            for e in stmt.query_map(params_from_iter(keys.iter()), entry)? {
                if let Some(e) = e? {
                    out.insert(e.live.path.clone(), e);
                }
            }
        }
        Ok(out)
    }

    /// How many files the index holds, and how many still wait for their header.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Index`] when the index cannot be read.
    pub fn counts(&self) -> Result<(usize, usize), CatalogError> {
        let db = self.reader();
        let (all, unread): (i64, i64) = db.query_row(
            "SELECT count(*), coalesce(sum(state = 0), 0) FROM files",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((
            usize::try_from(all).unwrap_or(0),
            usize::try_from(unread).unwrap_or(0),
        ))
    }
}
