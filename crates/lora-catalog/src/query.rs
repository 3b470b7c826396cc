//! A listing query: filters, sort and page, as SQL over the index.

use lora_core::{EntityType, Sha256};
use rusqlite::types::Value;

/// What a listing is sorted by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// `{entity}/{name}`, as the plain listing (the default).
    #[default]
    Path,
    /// The file name (case-insensitive), then the path.
    Name,
    /// The modification time, then the path.
    ModifiedAt,
    /// The size, then the path.
    FileSize,
}

/// Which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Smallest first (the default).
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// Filters (all optional, combined with *and*), a sort and a page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Only this entity type.
    pub entity: Option<EntityType>,
    /// Only files whose header gave this family (`flux`, …).
    pub base_model: Option<String>,
    /// Only files of this kind (`lora`, …).
    pub kind: Option<String>,
    /// Only files with this SHA-256.
    pub sha256: Option<Sha256>,
    /// Only files with this tensor-data SHA-256.
    pub tensor_sha256: Option<Sha256>,
    /// Only files the user tagged so (case-insensitive).
    pub tag: Option<String>,
    /// Only files whose name, trigger words, tags or description contain this
    /// (case-insensitive).
    pub q: Option<String>,
    /// The sort.
    pub sort: Sort,
    /// Its direction.
    pub order: Order,
    /// Files to skip.
    pub offset: usize,
    /// Files to give.
    pub limit: usize,
}

impl Query {
    /// The `WHERE` clause (empty: none) and its parameters.
    pub(crate) fn filter(&self) -> (String, Vec<Value>) {
        let mut clauses: Vec<&str> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(entity) = self.entity {
            clauses.push("entity = ?");
            params.push(Value::Text(entity.as_str().to_owned()));
        }
        if let Some(base) = &self.base_model {
            clauses.push("base_model = ?");
            params.push(Value::Text(base.clone()));
        }
        if let Some(kind) = &self.kind {
            clauses.push("kind = ?");
            params.push(Value::Text(kind.clone()));
        }
        if let Some(sha) = self.sha256 {
            clauses.push("sha256 = ?");
            params.push(Value::Text(sha.to_hex()));
        }
        if let Some(sha) = self.tensor_sha256 {
            clauses.push("tensor_sha256 = ?");
            params.push(Value::Text(sha.to_hex()));
        }
        if let Some(tag) = &self.tag {
            clauses.push("path IN (SELECT path FROM tags WHERE tag = ?)");
            params.push(Value::Text(tag.trim().to_lowercase()));
        }
        if let Some(q) = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let q = q.to_lowercase();
            if q.chars().count() >= 3 {
                // The trigram index: a phrase of three or more characters matches where
                // the text holds it, without a scan.
                clauses.push("id IN (SELECT rowid FROM search WHERE search MATCH ?)");
                params.push(Value::Text(format!("\"{}\"", q.replace('"', "\"\""))));
            } else {
                clauses.push(r"search LIKE ? ESCAPE '\'");
                params.push(Value::Text(format!("%{}%", like_escaped(&q))));
            }
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (clause, params)
    }

    /// The `ORDER BY` clause.
    pub(crate) fn order_by(&self) -> &'static str {
        match (self.sort, self.order) {
            (Sort::Path, Order::Asc) => "ORDER BY path ASC",
            (Sort::Path, Order::Desc) => "ORDER BY path DESC",
            (Sort::Name, Order::Asc) => "ORDER BY name_lower ASC, path ASC",
            (Sort::Name, Order::Desc) => "ORDER BY name_lower DESC, path DESC",
            (Sort::ModifiedAt, Order::Asc) => "ORDER BY modified_ns ASC, path ASC",
            (Sort::ModifiedAt, Order::Desc) => "ORDER BY modified_ns DESC, path DESC",
            (Sort::FileSize, Order::Asc) => "ORDER BY size ASC, path ASC",
            (Sort::FileSize, Order::Desc) => "ORDER BY size DESC, path DESC",
        }
    }
}

/// `text` with LIKE's wildcards (and the escape character) escaped.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
