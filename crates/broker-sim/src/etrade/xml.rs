//! E*TRADE v1 answers XML unless JSON is asked for (PROTOCOLS.md, "Data
//! formats"): the format a request wants, and the XML rendering of the
//! same document the JSON answer carries.
//!
//! The mapping is E*TRADE's own: a JSON object is an element per key, a
//! JSON array under key `K` is one `<K>` element per item, so
//! `{"QuoteResponse":{"QuoteData":[a,b]}}` becomes
//! `<QuoteResponse><QuoteData>a</QuoteData><QuoteData>b</QuoteData></QuoteResponse>`.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The body format a data request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The default.
    Xml,
    /// Path ending in `.json`, or `Accept: application/json`.
    Json,
}

impl Format {
    /// JSON when the path ends in `.json` or `Accept` names
    /// `application/json`; XML otherwise (`*/*` and no `Accept` included).
    pub(crate) fn of(path: &str, headers: &HeaderMap) -> Self {
        let accepts_json = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .any(|h| h.to_ascii_lowercase().contains("application/json"));
        if path.ends_with(".json") || accepts_json {
            Format::Json
        } else {
            Format::Xml
        }
    }

    /// `doc` (one top-level key, as E*TRADE's documents have) in this format.
    pub(crate) fn render(self, doc: &Value) -> Response {
        match self {
            Format::Json => axum::Json(doc).into_response(),
            Format::Xml => (
                [(header::CONTENT_TYPE, "application/xml")],
                to_xml_document(doc),
            )
                .into_response(),
        }
    }
}

/// An XML document with the standard declaration.
pub(crate) fn to_xml_document(doc: &Value) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#);
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                element(k, v, &mut out);
            }
        }
        other => element("Response", other, &mut out),
    }
    out
}

fn element(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            for item in items {
                element(name, item, out);
            }
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in map {
                element(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// Escapes text content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn xml_unless_the_path_or_accept_asks_for_json() {
        let none = HeaderMap::new();
        assert_eq!(Format::of("/v1/accounts/list", &none), Format::Xml);
        assert_eq!(Format::of("/v1/accounts/list.json", &none), Format::Json);
        let mut any = HeaderMap::new();
        any.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(Format::of("/v1/accounts/list", &any), Format::Xml);
        let mut json = HeaderMap::new();
        json.insert(
            header::ACCEPT,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(Format::of("/v1/market/quote/IBM", &json), Format::Json);
    }

    #[test]
    fn arrays_repeat_their_element_and_text_is_escaped() {
        let doc = json!({"QuoteResponse": {"QuoteData": [
            {"Product": {"symbol": "A&B"}, "n": 1},
            {"Product": {"symbol": "<C>"}, "n": null}
        ]}});
        assert_eq!(
            to_xml_document(&doc),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <QuoteResponse>\
             <QuoteData><Product><symbol>A&amp;B</symbol></Product><n>1</n></QuoteData>\
             <QuoteData><Product><symbol>&lt;C&gt;</symbol></Product><n/></QuoteData>\
             </QuoteResponse>"
        );
    }
}
