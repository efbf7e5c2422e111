//! What `jwh webhooks` prints: endpoints and their headers as aligned tables, or as JSON with `--json`.

use crate::management::{Webhook, WebhookHeaders};

/// A table of endpoints (id, disabled, event types, URL), or a JSON array.
pub fn render_list(hooks: &[Webhook], json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(hooks).unwrap_or_default());
    }
    let rows: Vec<[String; 4]> = hooks
        .iter()
        .map(|h| {
            [
                h.id.clone(),
                if h.disabled == Some(true) {
                    "disabled"
                } else {
                    "enabled"
                }
                .to_owned(),
                event_types_cell(h),
                h.url.clone(),
            ]
        })
        .collect();
    table(&["ID", "STATE", "EVENT TYPES", "URL"], &rows)
}

/// One endpoint as `field  value` lines, or a JSON object.
pub fn render_one(hook: &Webhook, json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(hook).unwrap_or_default());
    }
    let rows = vec![
        ["id".to_owned(), hook.id.clone()],
        ["url".to_owned(), hook.url.clone()],
        [
            "state".to_owned(),
            if hook.disabled == Some(true) {
                "disabled"
            } else {
                "enabled"
            }
            .to_owned(),
        ],
        ["event types".to_owned(), event_types_cell(hook)],
        [
            "rate limit".to_owned(),
            hook.rate_limit
                .map_or_else(|| "none".to_owned(), |r| format!("{r}/s")),
        ],
        [
            "description".to_owned(),
            hook.description.clone().unwrap_or_default(),
        ],
        ["created".to_owned(), hook.created_at.clone()],
        ["updated".to_owned(), hook.updated_at.clone()],
    ];
    table(&["FIELD", "VALUE"], &rows)
}

/// The headers as `NAME  VALUE` rows (sensitive ones as `(hidden)`), or Junction's JSON.
pub fn render_headers(headers: &WebhookHeaders, json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::to_string(headers).unwrap_or_default());
    }
    let mut rows: Vec<[String; 2]> = headers
        .headers
        .iter()
        .map(|(k, v)| [k.clone(), v.clone()])
        .collect();
    rows.extend(
        headers
            .sensitive
            .iter()
            .map(|k| [k.clone(), "(hidden)".to_owned()]),
    );
    rows.sort();
    table(&["NAME", "VALUE"], &rows)
}

fn event_types_cell(hook: &Webhook) -> String {
    match &hook.filter_types {
        None => "all".to_owned(),
        Some(types) if types.len() <= 2 => types.join(","),
        Some(types) => format!("{} ({} more)", types[0], types.len() - 1),
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let hook = Webhook {
            id: "ep_1".into(),
            description: None,
            rate_limit: None,
            url: "https://r.example/w".into(),
            disabled: Some(true),
            filter_types: Some(vec!["a".into(), "b".into(), "c".into()]),
            created_at: "t0".into(),
            updated_at: "t1".into(),
        };
        assert_eq!(
            render_list(std::slice::from_ref(&hook), false),
            "ID    STATE     EVENT TYPES  URL\nep_1  disabled  a (2 more)   https://r.example/w\n"
        );
        let headers = WebhookHeaders {
            headers: [("X-Env".to_owned(), "prod".to_owned())].into(),
            sensitive: vec!["Authorization".into()],
        };
        assert_eq!(
            render_headers(&headers, false),
            "NAME           VALUE\nAuthorization  (hidden)\nX-Env          prod\n"
        );
    }
}
