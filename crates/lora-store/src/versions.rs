//! Where the search for a free version of a taken name starts.
//!
//! Versioning takes the first free of `stem_v2.ext`, `stem_v3.ext`, … The first time a
//! name clashes, the taken versions come from the listing cache (one folder scan at most);
//! after that the store remembers, per name, a version below which every version is known
//! to be taken, so the 2000th upload of a name costs no scan and no walk over 2000 names.
//!
//! A hint is only ever a lower bound on the first free version: the no-replace rename
//! still decides, so a stale hint costs a failed rename, never an overwrite. What could
//! make it too high is a version being freed; every delete through the store forgets the
//! hints of that entity folder (and a generation count stops a search that started before
//! the delete from writing an old hint back). A version removed by other means is reused
//! after the next restart.

use std::collections::HashMap;
use std::sync::Mutex;

use lora_core::EntityType;

#[derive(Debug, Default)]
pub(crate) struct VersionHints {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// entity → plain name → every version from 2 up to this one (excluded) is taken.
    next: HashMap<EntityType, HashMap<String, u32>>,
    /// Bumped by every forget, per entity.
    generation: HashMap<EntityType, u64>,
}

/// What a search started from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    /// The first version worth trying, when known.
    pub(crate) version: Option<u32>,
    generation: u64,
}

impl VersionHints {
    /// Where to start looking for a free version of `name` in `entity`'s folder.
    pub(crate) fn start(&self, entity: EntityType, name: &str) -> Start {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Start {
            version: inner.next.get(&entity).and_then(|m| m.get(name)).copied(),
            generation: inner.generation.get(&entity).copied().unwrap_or(0),
        }
    }

    /// A search that began at `start` took `version`: every version from where it started
    /// (2 when it had no hint) up to `version` is taken.
    pub(crate) fn took(&self, entity: EntityType, name: &str, start: Start, version: u32) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.generation.get(&entity).copied().unwrap_or(0) != start.generation {
            return;
        }
        let from = start.version.unwrap_or(2);
        let next = inner
            .next
            .entry(entity)
            .or_default()
            .entry(name.to_owned())
            .or_insert(from);
        // A concurrent search may have recorded less (its hint was older) or more.
        if *next >= from {
            *next = (*next).max(version.saturating_add(1));
        }
    }

    /// Something in `entity`'s folder was freed: no hint there can be trusted.
    pub(crate) fn forget(&self, entity: EntityType) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.generation.entry(entity).or_default() += 1;
        inner.next.remove(&entity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: EntityType = EntityType::Styles;

    #[test]
    fn hints_grow_with_taken_versions_and_vanish_on_forget() {
        let hints = VersionHints::default();
        let s = hints.start(E, "a.pt");
        assert_eq!(s.version, None);
        hints.took(E, "a.pt", s, 4);
        assert_eq!(hints.start(E, "a.pt").version, Some(5));
        // An older search (hint 2) that ended lower does not lower the hint.
        hints.took(E, "a.pt", s, 3);
        assert_eq!(hints.start(E, "a.pt").version, Some(5));
        hints.forget(E);
        assert_eq!(hints.start(E, "a.pt").version, None);
        // A search that started before the forget cannot write its hint back.
        hints.took(E, "a.pt", s, 9);
        assert_eq!(hints.start(E, "a.pt").version, None);
        // Other folders keep theirs.
        let f = hints.start(EntityType::Faces, "a.pt");
        hints.took(EntityType::Faces, "a.pt", f, 2);
        hints.forget(E);
        assert_eq!(hints.start(EntityType::Faces, "a.pt").version, Some(3));
    }
}
