//! The organizations' states by slot. A refresh touches an org two or three times per row it
//! reads: finding it by name in an ordered map each time was an eighth of a busy refresh (run 8's
//! profile). Each stored `org_id` is resolved to a slot once, by hash, until the configured
//! organizations change; the label order the output needs is kept aside and made again only when
//! an org is added.

use std::collections::HashMap;
use std::sync::Arc;

/// A fast hasher with a per-process seed: the keys (org ids, event ids) come from the log store,
/// which writers outside this process fill.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Where an org's state lives in [`Orgs`]; valid until [`Orgs::clear`].
pub(crate) type Slot = usize;

#[derive(Debug)]
pub(crate) struct Orgs<T> {
    /// Label and state, in the order they were made.
    slots: Vec<(Arc<str>, T)>,
    by_label: FastMap<Arc<str>, Slot>,
    /// Stored org ids already resolved (each configured org's, and those folded under a label).
    by_id: FastMap<Box<str>, Slot>,
    /// The slots in label order; `None` after an org was added.
    order: Option<Vec<Slot>>,
}

impl<T> Default for Orgs<T> {
    fn default() -> Self {
        Orgs { slots: vec![], by_label: FastMap::default(), by_id: FastMap::default(), order: Some(vec![]) }
    }
}

impl<T: Default> Orgs<T> {
    /// The slot of stored org id `org_id`; `label` names the org it counts under. Only ids that
    /// count under their own name are remembered: ids folded under another label come from
    /// whoever writes the logs (an unknown org's payloads), and must not grow the map.
    pub(crate) fn resolve<'a>(&mut self, org_id: &'a str, label: impl FnOnce(&'a str) -> &'a str) -> Slot {
        if let Some(slot) = self.by_id.get(org_id) {
            return *slot;
        }
        let label = label(org_id);
        let slot = self.ensure(label);
        if label == org_id {
            self.by_id.insert(org_id.into(), slot);
        }
        slot
    }

    /// The slot of the org labelled `label`, made (with a default state) if there is none.
    pub(crate) fn ensure(&mut self, label: &str) -> Slot {
        if let Some(slot) = self.by_label.get(label) {
            return *slot;
        }
        let label: Arc<str> = label.into();
        let slot = self.slots.len();
        self.slots.push((Arc::clone(&label), T::default()));
        self.by_label.insert(label, slot);
        self.order = None;
        slot
    }
}

impl<T> Orgs<T> {
    pub(crate) fn get_mut(&mut self, slot: Slot) -> &mut T {
        &mut self.slots[slot].1
    }

    #[cfg(test)]
    pub(crate) fn get(&self, label: &str) -> Option<&T> {
        self.by_label.get(label).map(|slot| &self.slots[*slot].1)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Forgets which label each stored org id counts under (the configured orgs changed).
    pub(crate) fn forget_ids(&mut self) {
        self.by_id.clear();
    }

    /// Forgets every org; slots handed out before are void.
    pub(crate) fn clear(&mut self) {
        *self = Orgs::default();
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|(_, state)| state)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(|(_, state)| state)
    }

    /// Every org with its slot, in slot order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (Slot, &mut T)> {
        self.values_mut().enumerate()
    }

    /// Every org in label order.
    pub(crate) fn sorted_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut T)> {
        let slots = &self.slots;
        let order = self.order.get_or_insert_with(|| {
            let mut order: Vec<Slot> = (0..slots.len()).collect();
            order.sort_unstable_by(|a, b| slots[*a].0.cmp(&slots[*b].0));
            order
        });
        let mut states: Vec<Option<&mut (Arc<str>, T)>> = self.slots.iter_mut().map(Some).collect();
        order.iter().map(move |slot| {
            let (label, state) = states[*slot].take().expect("each slot once in the order");
            (&*label, state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_resolve_once_and_fold_under_their_label() {
        let mut orgs: Orgs<u32> = Orgs::default();
        let a = orgs.resolve("acme", |id| id);
        let stray = orgs.resolve("stray", |_| "_unknown");
        let other = orgs.resolve("other-stray", |_| "_unknown");
        assert_eq!(stray, other);
        assert_eq!(orgs.by_id.len(), 1, "only ids under their own name are remembered");
        assert_ne!(a, stray);
        assert_eq!(orgs.resolve("acme", |_| panic!("resolved already")), a);
        *orgs.get_mut(a) += 2;
        let sorted: Vec<(String, u32)> = orgs.sorted_mut().map(|(l, s)| (l.to_string(), *s)).collect();
        assert_eq!(sorted, [("_unknown".to_string(), 0), ("acme".to_string(), 2)]);
        orgs.forget_ids();
        assert_eq!(orgs.resolve("stray", |id| id), orgs.len() - 1, "a new label after forgetting");
    }
}
