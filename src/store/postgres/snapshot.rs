//! Exact incremental reads between two PostgreSQL snapshots (the PgQ / Londiste technique).
//!
//! A snapshot (`pg_current_snapshot()`) says which transactions had ended when it was taken:
//! every id below `xmin`, and every id below `xmax` not listed in `xip`. The rows that became
//! visible between snapshot `prev` and snapshot `cur` are those written by a transaction that had
//! not ended at `prev` (listed in `prev.xip`, or at or above `prev.xmax`) and had ended at `cur`.
//! Rolled-back rows are never visible, so they are never read. An open transaction delays only
//! its own rows: nothing waits for the cluster-wide horizon.

use crate::store::error::StoreError;

/// A parsed `pg_snapshot`. Transaction ids are xid8 values (epoch and xid), which fit an i64.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgSnapshot {
    pub xmin: i64,
    pub xmax: i64,
    /// Sorted.
    pub xip: Vec<i64>,
}

impl PgSnapshot {
    /// Parses the text form `xmin:xmax:xip1,xip2,...`.
    pub fn parse(text: &str) -> Result<PgSnapshot, StoreError> {
        let invalid = || StoreError::Invalid { field: "pg_current_snapshot()", detail: format!("{text:?}") };
        let mut parts = text.split(':');
        let (Some(xmin), Some(xmax), Some(xip), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let xmin = xmin.parse().map_err(|_| invalid())?;
        let xmax = xmax.parse().map_err(|_| invalid())?;
        let mut xip = xip
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| invalid()))
            .collect::<Result<Vec<i64>, _>>()?;
        xip.sort_unstable();
        Ok(PgSnapshot { xmin, xmax, xip })
    }

    /// Whether transaction `xid` had ended when the snapshot was taken.
    pub fn has_ended(&self, xid: i64) -> bool {
        xid < self.xmin || (xid < self.xmax && self.xip.binary_search(&xid).is_err())
    }
}

/// The transactions whose rows become readable going from `prev` to `cur`: the ids of `prev.xip`
/// that ended by `cur` (`ended`), plus every id in `[prev.xmax, cur.xmax)` not in `cur.xip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub ended: Vec<i64>,
    pub from: i64,
    pub to: i64,
    pub still_open: Vec<i64>,
}

impl Delta {
    pub fn between(prev: &PgSnapshot, cur: &PgSnapshot) -> Delta {
        Delta {
            ended: prev.xip.iter().copied().filter(|&x| cur.has_ended(x)).collect(),
            from: prev.xmax,
            to: cur.xmax.max(prev.xmax),
            still_open: cur.xip.iter().copied().filter(|&x| x >= prev.xmax).collect(),
        }
    }

    /// Whether rows of `xid` belong to this delta (for tests and reasoning; the SQL applies it).
    #[cfg(test)]
    fn contains(&self, xid: i64) -> bool {
        self.ended.contains(&xid) || (xid >= self.from && xid < self.to && !self.still_open.contains(&xid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> PgSnapshot {
        PgSnapshot::parse(text).unwrap()
    }

    #[test]
    fn parses_the_text_form() {
        assert_eq!(snap("727:727:"), PgSnapshot { xmin: 727, xmax: 727, xip: vec![] });
        assert_eq!(snap("10:20:15,11"), PgSnapshot { xmin: 10, xmax: 20, xip: vec![11, 15] });
        for bad in ["", "1:2", "a:2:", "1:2:3:4", "1:2:x"] {
            assert!(PgSnapshot::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_transaction_is_read_once_and_an_open_one_waits_alone() {
        // 10 is a long transaction open throughout; 12 ends between the two snapshots; 17 starts
        // after prev and is still open at cur; 20..23 start and end in between.
        let prev = snap("10:15:10,12");
        let cur = snap("10:25:10,17,24");
        let d = Delta::between(&prev, &cur);
        let read: Vec<i64> = (0..30).filter(|&x| d.contains(x)).collect();
        assert_eq!(read, [12, 15, 16, 18, 19, 20, 21, 22, 23]);
        // Everything read was not readable at prev and is at cur; everything else is one or the other.
        for x in 0..30 {
            assert_eq!(d.contains(x), !prev.has_ended(x) && cur.has_ended(x), "xid {x}");
        }
        // The next delta picks up 10, 17 and 24 when they end, and nothing read before.
        let next = snap("30:31:");
        let d2 = Delta::between(&cur, &next);
        let read2: Vec<i64> = (0..31).filter(|&x| d2.contains(x)).collect();
        assert_eq!(read2, [10, 17, 24, 25, 26, 27, 28, 29, 30]);
    }
}
