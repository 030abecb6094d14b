//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//! for the few built-in kinds typed kubectl commands create (`kubectl create namespace`,
//! `create configmap`, `create secret generic`, `create serviceaccount`, `create role`,
//! `create clusterrole`, `create rolebinding`, `create clusterrolebinding`). The envelope is
//! the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds
//! the object. Fields this decoder does not model are refused by number, never dropped.

use base64::Engine as _;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Ty {
    Str,
    /// `bytes`, rendered as base64 like JSON does.
    Bytes,
    Int64,
    Bool,
    Time,
    MapStrStr,
    MapStrBytes,
    Msg(&'static [Field]),
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    ty: Ty,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: false,
    }
}

const fn rep(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: true,
    }
}

const OWNER_REFERENCE: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(5, "apiVersion", Ty::Str),
    f(6, "controller", Ty::Bool),
    f(7, "blockOwnerDeletion", Ty::Bool),
];

/// `managedFields` entries are dropped by this server anyway, so they decode as opaque.
const MANAGED_FIELDS_ENTRY: &[Field] = &[];

const OBJECT_META: &[Field] = &[
    f(1, "name", Ty::Str),
    f(2, "generateName", Ty::Str),
    f(3, "namespace", Ty::Str),
    f(4, "selfLink", Ty::Str),
    f(5, "uid", Ty::Str),
    f(6, "resourceVersion", Ty::Str),
    f(7, "generation", Ty::Int64),
    f(8, "creationTimestamp", Ty::Time),
    f(9, "deletionTimestamp", Ty::Time),
    f(10, "deletionGracePeriodSeconds", Ty::Int64),
    f(11, "labels", Ty::MapStrStr),
    f(12, "annotations", Ty::MapStrStr),
    rep(13, "ownerReferences", Ty::Msg(OWNER_REFERENCE)),
    rep(14, "finalizers", Ty::Str),
    rep(17, "managedFields", Ty::Msg(MANAGED_FIELDS_ENTRY)),
];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(&[rep(1, "finalizers", Ty::Str)])),
    f(3, "status", Ty::Msg(&[f(1, "phase", Ty::Str)])),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "data", Ty::MapStrStr),
    f(3, "binaryData", Ty::MapStrBytes),
    f(4, "immutable", Ty::Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "data", Ty::MapStrBytes),
    f(3, "type", Ty::Str),
    f(4, "stringData", Ty::MapStrStr),
    f(5, "immutable", Ty::Bool),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "namespace", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(5, "apiVersion", Ty::Str),
    f(6, "resourceVersion", Ty::Str),
    f(7, "fieldPath", Ty::Str),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "secrets", Ty::Msg(OBJECT_REFERENCE)),
    rep(3, "imagePullSecrets", Ty::Msg(&[f(1, "name", Ty::Str)])),
    f(4, "automountServiceAccountToken", Ty::Bool),
];

// rbac.authorization.k8s.io/v1 (k8s.io/api/rbac/v1/generated.proto), for `kubectl create
// role|clusterrole|rolebinding|clusterrolebinding`.
const POLICY_RULE: &[Field] = &[
    rep(1, "verbs", Ty::Str),
    rep(2, "apiGroups", Ty::Str),
    rep(3, "resources", Ty::Str),
    rep(4, "resourceNames", Ty::Str),
    rep(5, "nonResourceURLs", Ty::Str),
];

const LABEL_SELECTOR: &[Field] = &[
    f(1, "matchLabels", Ty::MapStrStr),
    rep(
        2,
        "matchExpressions",
        Ty::Msg(&[
            f(1, "key", Ty::Str),
            f(2, "operator", Ty::Str),
            rep(3, "values", Ty::Str),
        ]),
    ),
];

const ROLE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "rules", Ty::Msg(POLICY_RULE)),
];

const CLUSTER_ROLE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "rules", Ty::Msg(POLICY_RULE)),
    f(
        3,
        "aggregationRule",
        Ty::Msg(&[rep(1, "clusterRoleSelectors", Ty::Msg(LABEL_SELECTOR))]),
    ),
];

const ROLE_BINDING: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(
        2,
        "subjects",
        Ty::Msg(&[
            f(1, "kind", Ty::Str),
            f(2, "apiGroup", Ty::Str),
            f(3, "name", Ty::Str),
            f(4, "namespace", Ty::Str),
        ]),
    ),
    f(
        3,
        "roleRef",
        Ty::Msg(&[
            f(1, "apiGroup", Ty::Str),
            f(2, "kind", Ty::Str),
            f(3, "name", Ty::Str),
        ]),
    ),
];

const TYPE_META: &[Field] = &[f(1, "apiVersion", Ty::Str), f(2, "kind", Ty::Str)];

fn schema(group: &str, kind: &str) -> Option<&'static [Field]> {
    match (group, kind) {
        ("", "Namespace") => Some(NAMESPACE),
        ("", "ConfigMap") => Some(CONFIG_MAP),
        ("", "Secret") => Some(SECRET),
        ("", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("rbac.authorization.k8s.io", "Role") => Some(ROLE),
        ("rbac.authorization.k8s.io", "ClusterRole") => Some(CLUSTER_ROLE),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => Some(ROLE_BINDING),
        _ => None,
    }
}

/// One field's payload, by wire type.
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// 32- or 64-bit fixed values: no modelled field uses them.
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string field is not valid UTF-8".to_string())
}

fn map_entry(bytes: &[u8], value_ty: Ty) -> Result<(String, Value), String> {
    let entry = decode_message(
        bytes,
        &[f(1, "key", Ty::Str), f(2, "value", value_ty)],
        "map entry",
    )?;
    let key = entry
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let value = entry.get("value").cloned().unwrap_or_else(|| json!(""));
    Ok((key, value))
}

fn decode_message(buf: &[u8], fields: &[Field], what: &str) -> Result<Map<String, Value>, String> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Map::new();
    while !r.done() {
        let key = r.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let field = fields.iter().find(|fd| fd.num == num);
        let raw = match wire {
            0 => Raw::Varint(r.varint()?),
            1 => {
                r.take(8)?;
                Raw::Fixed
            }
            2 => {
                let n = usize::try_from(r.varint()?).map_err(|_| "field too long")?;
                Raw::Bytes(r.take(n)?)
            }
            5 => {
                r.take(4)?;
                Raw::Fixed
            }
            other => return Err(format!("unsupported protobuf wire type {other} in {what}")),
        };
        let Some(field) = field else {
            if fields.is_empty() {
                continue;
            }
            return Err(format!(
                "protobuf field {num} of {what} is not supported yet"
            ));
        };
        let value = match (field.ty, raw) {
            (Ty::Int64, Raw::Varint(v)) => json!(v as i64),
            (Ty::Bool, Raw::Varint(v)) => json!(v != 0),
            (Ty::Str, Raw::Bytes(b)) => json!(text(b)?),
            (Ty::Bytes, Raw::Bytes(b)) => {
                json!(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Ty::Time, Raw::Bytes(b)) => {
                let t = decode_message(
                    b,
                    &[f(1, "seconds", Ty::Int64), f(2, "nanos", Ty::Int64)],
                    "Time",
                )?;
                let secs = t.get("seconds").and_then(Value::as_i64).unwrap_or(0);
                match jiff::Timestamp::from_second(secs) {
                    Ok(ts) => json!(ts.to_string()),
                    Err(_) => return Err(format!("{} is not a valid time", field.name)),
                }
            }
            (Ty::MapStrStr | Ty::MapStrBytes, Raw::Bytes(b)) => {
                let vt = if matches!(field.ty, Ty::MapStrStr) {
                    Ty::Str
                } else {
                    Ty::Bytes
                };
                let (k, v) = map_entry(b, vt)?;
                let m = out.entry(field.name).or_insert_with(|| json!({}));
                if let Value::Object(m) = m {
                    m.insert(k, v);
                }
                continue;
            }
            (Ty::Msg(sub), Raw::Bytes(b)) => Value::Object(decode_message(b, sub, field.name)?),
            _ => {
                return Err(format!(
                    "protobuf field {} ({num}) of {what} has an unexpected wire type",
                    field.name
                ));
            }
        };
        if field.repeated {
            let list = out.entry(field.name).or_insert_with(|| json!([]));
            if let Value::Array(a) = list {
                a.push(value);
            }
        } else {
            out.insert(field.name.to_string(), value);
        }
    }
    Ok(out)
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic k8s\\0")?;
    let unknown = decode_message(
        rest,
        &[
            f(1, "typeMeta", Ty::Msg(TYPE_META)),
            f(2, "raw", Ty::Bytes),
            f(3, "contentEncoding", Ty::Str),
            f(4, "contentType", Ty::Str),
        ],
        "runtime.Unknown",
    )?;
    let api_version = unknown
        .get("typeMeta")
        .and_then(|t| t.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = unknown
        .get("typeMeta")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let fields = schema(group, kind)
        .ok_or_else(|| format!("protobuf bodies for {api_version} {kind} are not supported yet"))?;
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| e.to_string())?;
    let mut obj = decode_message(&raw, fields, kind)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(num: u64, data: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    #[test]
    fn decodes_a_configmap() {
        let mut meta = Vec::new();
        bytes_field(1, b"demo", &mut meta);
        let mut entry = Vec::new();
        bytes_field(1, b"app", &mut entry);
        bytes_field(2, b"web", &mut entry);
        bytes_field(11, &entry, &mut meta);
        let mut cm = Vec::new();
        bytes_field(1, &meta, &mut cm);
        let mut data = Vec::new();
        bytes_field(1, b"k", &mut data);
        bytes_field(2, b"v", &mut data);
        bytes_field(2, &data, &mut cm);
        let mut type_meta = Vec::new();
        bytes_field(1, b"v1", &mut type_meta);
        bytes_field(2, b"ConfigMap", &mut type_meta);
        let mut body = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut body);
        bytes_field(2, &cm, &mut body);
        assert_eq!(
            decode(&body).unwrap(),
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "demo", "labels": { "app": "web" } }, "data": { "k": "v" } })
        );
        // An unmodelled field is refused by number.
        let mut odd = cm.clone();
        bytes_field(9, b"x", &mut odd);
        let mut body = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut body);
        bytes_field(2, &odd, &mut body);
        assert_eq!(
            decode(&body).unwrap_err(),
            "protobuf field 9 of ConfigMap is not supported yet"
        );
        assert!(decode(b"k8s\0\x0a\xff").is_err());
    }
}
