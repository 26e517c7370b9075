//! `GET /sandbox`'s filters, order and paging ([`ListQuery`]): plain functions of the DTOs.

use std::collections::BTreeMap;

use process_proto::wire::control::SandboxDto;

/// Filters and paging of `GET /sandbox` (spec §5.2).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Offset to start at (the cursor we hand out).
    pub offset: usize,
    /// Page size (1..=200).
    pub limit: usize,
    /// Id prefix.
    pub id: Option<String>,
    /// Name prefix (case-insensitive).
    pub name: Option<String>,
    /// Labels that must all match.
    pub labels: BTreeMap<String, String>,
    /// Accepted states (empty = all).
    pub states: Vec<String>,
    /// Accepted snapshot/image names (empty = all).
    pub snapshots: Vec<String>,
    /// Resource bounds.
    pub min_cpu: Option<u32>,
    /// Resource bounds.
    pub max_cpu: Option<u32>,
    /// Resource bounds.
    pub min_memory: Option<u32>,
    /// Resource bounds.
    pub max_memory: Option<u32>,
    /// Resource bounds.
    pub min_disk: Option<u32>,
    /// Resource bounds.
    pub max_disk: Option<u32>,
    /// Sort key: `name`, `cpu`, `memoryGib`, `diskGib`, `lastActivityAt`, `createdAt`.
    pub sort: Option<String>,
    /// `asc` or `desc` (default `desc`).
    pub descending: bool,
}

impl ListQuery {
    /// Whether `sb` passes every filter.
    fn matches(&self, sb: &SandboxDto) -> bool {
        let state = sb.state().to_string();
        self.id
            .as_ref()
            .is_none_or(|p| sb.id.starts_with(p.as_str()))
            && self
                .name
                .as_ref()
                .is_none_or(|p| sb.name.to_lowercase().starts_with(&p.to_lowercase()))
            && self.labels.iter().all(|(k, v)| sb.labels.get(k) == Some(v))
            && (self.states.is_empty() || self.states.contains(&state))
            && (self.snapshots.is_empty()
                || sb
                    .snapshot
                    .as_ref()
                    .is_some_and(|s| self.snapshots.contains(s)))
            && self.min_cpu.is_none_or(|m| sb.cpu >= m)
            && self.max_cpu.is_none_or(|m| sb.cpu <= m)
            && self.min_memory.is_none_or(|m| sb.memory >= m)
            && self.max_memory.is_none_or(|m| sb.memory <= m)
            && self.min_disk.is_none_or(|m| sb.disk >= m)
            && self.max_disk.is_none_or(|m| sb.disk <= m)
    }

    /// The page of `items` this query asks for (filtered, sorted, then `offset`/`limit`) and
    /// the cursor of the next page, if there is one.
    pub(super) fn page(&self, items: Vec<SandboxDto>) -> (Vec<SandboxDto>, Option<String>) {
        let mut items: Vec<SandboxDto> = items.into_iter().filter(|sb| self.matches(sb)).collect();

        let key = self.sort.as_deref().unwrap_or("createdAt");
        items.sort_by(|a, b| {
            let ord = match key {
                "name" => a.name.cmp(&b.name),
                "cpu" => a.cpu.cmp(&b.cpu),
                "memoryGib" => a.memory.cmp(&b.memory),
                "diskGib" => a.disk.cmp(&b.disk),
                "lastActivityAt" => a.last_activity_at.cmp(&b.last_activity_at),
                _ => a.created_at.cmp(&b.created_at),
            };
            // Ties (same millisecond) broken by id so pages are stable.
            ord.then_with(|| a.id.cmp(&b.id))
        });
        if self.descending {
            items.reverse();
        }
        let total = items.len();
        let page: Vec<SandboxDto> = items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        let next = self.offset + page.len();
        let cursor = (next < total && !page.is_empty()).then(|| next.to_string());
        (page, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dto(id: &str, name: &str, cpu: u32, created_at: &str) -> SandboxDto {
        let mut sb = SandboxDto::new(id, "http://127.0.0.1:3000/toolbox");
        sb.name = name.to_owned();
        sb.cpu = cpu;
        sb.created_at = Some(created_at.to_owned());
        sb
    }

    fn ids(page: &[SandboxDto]) -> Vec<&str> {
        page.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn pages_are_filtered_sorted_and_cut() {
        let all = vec![
            dto("a", "Alpha", 1, "2026-01-01T00:00:01.000Z"),
            dto("b", "beta", 2, "2026-01-01T00:00:02.000Z"),
            dto("c", "alpine", 4, "2026-01-01T00:00:03.000Z"),
        ];
        let q = ListQuery {
            limit: 2,
            descending: true,
            ..ListQuery::default()
        };
        let (page, cursor) = q.page(all.clone());
        assert_eq!((ids(&page), cursor.as_deref()), (vec!["c", "b"], Some("2")));
        let q = ListQuery { offset: 2, ..q };
        let (page, cursor) = q.page(all.clone());
        assert_eq!((ids(&page), cursor), (vec!["a"], None));
        // Name prefixes ignore case; resource bounds are inclusive.
        let q = ListQuery {
            limit: 10,
            name: Some("AL".to_owned()),
            min_cpu: Some(2),
            ..ListQuery::default()
        };
        assert_eq!(ids(&q.page(all.clone()).0), vec!["c"]);
        let q = ListQuery {
            limit: 10,
            sort: Some("cpu".to_owned()),
            max_cpu: Some(2),
            ..ListQuery::default()
        };
        assert_eq!(ids(&q.page(all).0), vec!["a", "b"]);
    }
}
