//! The SAM template against the local stack and the code: deployed resources must carry the
//! settings that `provision` gives local ones, each function every variable its configuration
//! reads, the secrets documents the shape the ingress reads, the roles no more than they need, the
//! alarms and the dashboard the metrics the functions emit, and business events a bus, an archive
//! and, only with `ForwardUrl`, a forwarding that retries, dead-letters and alarms.
//!
//! The template is read as written (short-form tags kept) and evaluated for a given set of
//! parameter values by a small interpreter of the intrinsic functions it uses ([`Deploy`]).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_norway::{Mapping, Value};
use webhook_core::config::{self, ConsumerConfig, IngressConfig, SecretDocument, Source};
use webhook_core::ingress::Outcome;
use webhook_core::metrics;
use webhook_core::senders;
use webhook_core::verify::FailureClass;
use webhook_tools::provision::{self, TableSpec};

/// The stack name the evaluated template is deployed under.
const STACK: &str = "test-stack";
/// An existing secret's ARN, as an operator would pass it.
const EXISTING_LEGITMARK_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/legitmark-AbC123";
const EXISTING_CR3DENTIALS_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/cr3dentials-XyZ789";
const KMS_KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// An endpoint of the operator's that business events are forwarded to.
const FORWARD_URL: &str = "https://backend.example.com/business-events";

/// The secrets parameters and the `local.env` variables that hold the local stack's values of
/// them: a first deploy of the template is evaluated with the local secrets.
const LOCAL_SECRETS: [(&str, &str); 4] = [
    ("LegitmarkSigningSecrets", "SOURCE_LEGITMARK_SECRETS"),
    ("Cr3dentialsSigningSecret", "SOURCE_CR3DENTIALS_SECRETS"),
    (
        "Cr3dentialsAuthHeaderName",
        "SOURCE_CR3DENTIALS_AUTH_HEADER_NAME",
    ),
    (
        "Cr3dentialsAuthHeaderValue",
        "SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE",
    ),
];

/// The functions the template deploys.
const FUNCTIONS: [&str; 2] = ["IngressFunction", "ConsumerFunction"];

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The template, with CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`) kept as tags.
fn template() -> Value {
    serde_norway::from_str(&repo_file("template.yaml")).unwrap()
}

fn local_env() -> BTreeMap<String, String> {
    repo_file("local.env")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn properties<'t>(template: &'t Value, resource: &str) -> &'t Value {
    let properties = &template["Resources"][resource]["Properties"];
    assert!(properties.is_mapping(), "{resource} has no Properties");
    properties
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value:?} is not a whole number"))
}

/// The name of a short-form tag, without its `!`.
fn tag_name(tag: &serde_norway::value::Tag) -> String {
    tag.to_string().trim_start_matches('!').to_owned()
}

/// The target of `!Ref X` or `{Ref: X}`.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// The `Resource.Attribute` of `!GetAtt Resource.Attribute` (the short form the template uses).
fn get_att(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str(),
        _ => None,
    }
}

/// The arguments of `!If [condition, then, else]`.
fn if_args(value: &Value) -> Option<(&str, &Value, &Value)> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => {
            match tagged.value.as_sequence().map(Vec::as_slice) {
                Some([condition, then, otherwise]) => Some((condition.as_str()?, then, otherwise)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The roles the functions run with (`Role: !GetAtt <role>.Arn`).
fn function_roles(template: &Value) -> Vec<&str> {
    FUNCTIONS
        .iter()
        .map(|function| {
            get_att(&properties(template, function)["Role"])
                .and_then(|target| target.strip_suffix(".Arn"))
                .unwrap_or_else(|| panic!("{function}'s Role is not !GetAtt <role>.Arn"))
        })
        .collect()
}

fn is_resource(template: &Value, name: &str) -> bool {
    template["Resources"][name].is_mapping()
}

fn resources_of_type<'t>(template: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(name, resource)| (name.as_str().unwrap(), resource))
        .collect()
}

/// A function's variables as written: the `Globals` ones, then its own (which win).
fn env_vars<'t>(template: &'t Value, function: &str) -> BTreeMap<&'t str, &'t Value> {
    let global = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .into_iter()
        .flatten();
    let own = properties(template, function)["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{function} has no environment variables"));
    global
        .chain(own)
        .map(|(name, value)| (name.as_str().unwrap(), value))
        .collect()
}

/// One deployment of the template: every parameter's value (its default, the local secrets, then
/// the overrides), and the intrinsic functions evaluated with them.
struct Deploy<'t> {
    template: &'t Value,
    parameters: BTreeMap<String, String>,
}

impl<'t> Deploy<'t> {
    /// A first deploy with the local stack's secrets and every other parameter at its default,
    /// then `overrides`.
    fn new(template: &'t Value, overrides: &[(&str, &str)]) -> Self {
        let local = local_env();
        let mut parameters: BTreeMap<String, String> = template["Parameters"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter_map(|(name, parameter)| {
                let default = match &parameter["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name.as_str().unwrap().to_owned(), default))
            })
            .collect();
        for (parameter, var) in LOCAL_SECRETS {
            let value = local
                .get(var)
                .unwrap_or_else(|| panic!("local.env lacks {var}"));
            parameters.insert(parameter.to_owned(), value.clone());
        }
        for (name, value) in overrides {
            assert!(
                template["Parameters"][*name].is_mapping(),
                "the template has no parameter {name}"
            );
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            template,
            parameters,
        }
    }

    fn parameter(&self, name: &str) -> &str {
        self.parameters
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} has no value in this deploy"))
    }

    /// The value `${name}` or `!Ref name` stands for: a parameter's value, a pseudo parameter, a
    /// resource's logical id (its `Ref`), or `Resource.Attribute` for an attribute.
    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::StackName" => Some(STACK.to_owned()),
            "AWS::Region" => Some("eu-west-1".to_owned()),
            "AWS::AccountId" => Some("123456789012".to_owned()),
            "AWS::Partition" => Some("aws".to_owned()),
            _ if self.template["Parameters"][name].is_mapping() => {
                Some(self.parameter(name).to_owned())
            }
            _ => {
                let resource = name.split('.').next().unwrap();
                assert!(
                    is_resource(self.template, resource),
                    "{name} names no parameter or resource"
                );
                Some(name.to_owned())
            }
        }
    }

    /// Whether the condition named `name` holds.
    fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    /// Whether a condition or rule function holds (`!Or`, `!And`, `!Not`, `!Equals`,
    /// `!Condition`).
    fn holds(&self, condition: &Value) -> bool {
        let Value::Tagged(tagged) = condition else {
            panic!("{condition:?} is not a condition function");
        };
        if tagged.tag == "Condition" {
            return self.condition(tagged.value.as_str().unwrap());
        }
        let args = tagged
            .value
            .as_sequence()
            .unwrap_or_else(|| panic!("{condition:?} takes a list"));
        match (tag_name(&tagged.tag).as_str(), args.as_slice()) {
            ("Or", args) => args.iter().any(|arg| self.holds(arg)),
            ("And", args) => args.iter().all(|arg| self.holds(arg)),
            ("Not", [arg]) => !self.holds(arg),
            ("Equals", [a, b]) => self.scalar(a) == self.scalar(b),
            _ => panic!("condition function {condition:?} is not known to this test"),
        }
    }

    /// `value` evaluated to a string.
    fn scalar(&self, value: &Value) -> String {
        match self.resolve(value) {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            other => panic!("{value:?} is not a single value: {other:?}"),
        }
    }

    /// `!Sub` of a string.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"));
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                out.push_str(
                    &self
                        .reference(name)
                        .unwrap_or_else(|| panic!("${{{name}}} has no value")),
                );
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `value` with every intrinsic function evaluated; `None` for `AWS::NoValue`.
    fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Tagged(tagged) => {
                let name = tag_name(&tagged.tag);
                let args = tagged.value.as_sequence().map(Vec::as_slice);
                match (name.as_str(), args) {
                    ("Ref", _) => self
                        .reference(tagged.value.as_str().unwrap())
                        .map(Value::String),
                    ("GetAtt", _) => {
                        let target = tagged.value.as_str().unwrap();
                        Some(Value::String(self.reference(target).unwrap()))
                    }
                    ("Sub", _) => Some(Value::String(
                        self.substitute(tagged.value.as_str().unwrap()),
                    )),
                    ("If", Some([condition, then, otherwise])) => {
                        if self.condition(condition.as_str().unwrap()) {
                            self.resolve(then)
                        } else {
                            self.resolve(otherwise)
                        }
                    }
                    ("Join", Some([delimiter, list])) => {
                        let Some(Value::Sequence(items)) = self.resolve(list) else {
                            panic!("!Join of {list:?}, which is not a list");
                        };
                        let parts: Vec<String> = items.iter().map(|i| self.scalar(i)).collect();
                        Some(Value::String(parts.join(delimiter.as_str().unwrap())))
                    }
                    ("Split", Some([delimiter, source])) => {
                        let source = self.scalar(source);
                        Some(Value::Sequence(
                            source
                                .split(delimiter.as_str().unwrap())
                                .map(|s| Value::String(s.to_owned()))
                                .collect(),
                        ))
                    }
                    _ => panic!("intrinsic function {value:?} is not known to this test"),
                }
            }
            Value::Sequence(items) => Some(Value::Sequence(
                items.iter().filter_map(|i| self.resolve(i)).collect(),
            )),
            Value::Mapping(map) => {
                let mut resolved = Mapping::new();
                for (key, value) in map {
                    if let Some(value) = self.resolve(value) {
                        resolved.insert(key.clone(), value);
                    }
                }
                Some(Value::Mapping(resolved))
            }
            other => Some(other.clone()),
        }
    }

    /// A resource's properties as deployed, or `None` when its `Condition` is false.
    fn resource(&self, name: &str) -> Option<Value> {
        let resource = &self.template["Resources"][name];
        assert!(resource.is_mapping(), "no resource {name}");
        if let Some(condition) = resource["Condition"].as_str()
            && !self.condition(condition)
        {
            return None;
        }
        self.resolve(&resource["Properties"])
    }

    /// The environment `function` gets.
    fn environment(&self, function: &str) -> BTreeMap<String, String> {
        env_vars(self.template, function)
            .into_iter()
            .filter(|(_, value)| self.resolve(value).is_some())
            .map(|(name, value)| (name.to_owned(), self.scalar(value)))
            .collect()
    }

    /// Secrets Manager as this deploy leaves it: the secrets the stack creates (by their `Ref`,
    /// the logical id), and `existing` ones.
    fn secrets_manager(&self, existing: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut store: BTreeMap<String, String> = existing
            .iter()
            .map(|(arn, document)| ((*arn).to_owned(), (*document).to_owned()))
            .collect();
        for (name, _) in resources_of_type(self.template, "AWS::SecretsManager::Secret") {
            if let Some(secret) = self.resource(name) {
                let document = secret["SecretString"].as_str().unwrap().to_owned();
                store.insert(name.to_owned(), document);
            }
        }
        store
    }

    /// Every policy statement of `role` that this deploy keeps (none when its condition is false).
    fn statements(&self, role: &str) -> Vec<Value> {
        let Some(role) = self.resource(role) else {
            return Vec::new();
        };
        role["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
            .cloned()
            .collect()
    }
}

/// The ingress's sources as it would start with them: its configuration read from `env`, and
/// each source named by a `SOURCE_<NAME>_SECRET_ARN` read from `store` as the ingress reads it.
fn ingress_sources(
    env: &BTreeMap<String, String>,
    store: &BTreeMap<String, String>,
) -> Result<(IngressConfig, Vec<Source>), String> {
    let config = IngressConfig::from_env(env).map_err(|e| e.to_string())?;
    let mut sources = config.sources.clone();
    for source in &config.secret_sources {
        let document = store
            .get(&source.secret_id)
            .ok_or_else(|| format!("{} names no secret", source.var()))?;
        sources.push(source.source(document).map_err(|e| e.to_string())?);
    }
    Ok((config, sources))
}

/// A created secret's document.
fn document(text: &str) -> SecretDocument {
    SecretDocument::parse(text).unwrap_or_else(|e| panic!("not a secrets document: {e}"))
}

/// A table's keys, TTL and indexes as the template declares them.
#[derive(Debug)]
struct DeclaredTable {
    partition_key: String,
    sort_key: Option<String>,
    ttl_attribute: Option<String>,
    /// Every attribute definition, with its type.
    attributes: BTreeMap<String, String>,
    /// Index name → (partition key, sort key, projection type).
    indexes: BTreeMap<String, (String, Option<String>, String)>,
}

impl PartialEq<TableSpec> for DeclaredTable {
    fn eq(&self, spec: &TableSpec) -> bool {
        let string = provision::AttributeKind::String.as_str();
        // Every key's type, and nothing else: DynamoDB refuses a definition no key uses.
        let mut attributes = BTreeMap::from([(spec.partition_key.to_owned(), string.to_owned())]);
        attributes.extend(spec.sort_key.map(|k| (k.to_owned(), string.to_owned())));
        let mut indexes = BTreeMap::new();
        for index in spec.indexes {
            for key in [Some(index.partition_key), index.sort_key]
                .into_iter()
                .flatten()
            {
                attributes.insert(key.name.to_owned(), key.kind.as_str().to_owned());
            }
            indexes.insert(
                index.name.to_owned(),
                (
                    index.partition_key.name.to_owned(),
                    index.sort_key.map(|k| k.name.to_owned()),
                    "ALL".to_owned(),
                ),
            );
        }
        self.partition_key == spec.partition_key
            && self.sort_key.as_deref() == spec.sort_key
            && self.ttl_attribute.as_deref() == spec.ttl_attribute
            && self.attributes == attributes
            && self.indexes == indexes
    }
}

fn key_schema(keys: &Value) -> (String, Option<String>) {
    let key = |key_type: &str| {
        keys.as_sequence()
            .unwrap()
            .iter()
            .find(|k| k["KeyType"] == key_type)
            .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
    };
    (key("HASH").unwrap(), key("RANGE"))
}

fn declared_table(template: &Value, resource: &str) -> DeclaredTable {
    let table = properties(template, resource);
    let (partition_key, sort_key) = key_schema(&table["KeySchema"]);
    let attributes = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap().to_owned(),
                d["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let indexes = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|index| {
            let (hash, range) = key_schema(&index["KeySchema"]);
            let projection = index["Projection"]["ProjectionType"]
                .as_str()
                .unwrap()
                .to_owned();
            (
                index["IndexName"].as_str().unwrap().to_owned(),
                (hash, range, projection),
            )
        })
        .collect();
    let ttl = &table["TimeToLiveSpecification"];
    DeclaredTable {
        partition_key,
        sort_key,
        ttl_attribute: (ttl["Enabled"] == true)
            .then(|| ttl["AttributeName"].as_str().unwrap().to_owned()),
        attributes,
        indexes,
    }
}

/// Every class of authentication failure, each counted as `rejected_<class>`.
fn failure_classes() -> [FailureClass; 4] {
    let all = [
        FailureClass::Headers,
        FailureClass::Timestamp,
        FailureClass::Signature,
        FailureClass::Auth,
    ];
    for class in all {
        // A new class stops this from compiling until the alarms and the dashboard count it.
        match class {
            FailureClass::Headers
            | FailureClass::Timestamp
            | FailureClass::Signature
            | FailureClass::Auth => {}
        }
    }
    all
}

fn rejected_metric(class: FailureClass) -> String {
    format!("rejected_{}", class.as_str())
}

/// The built-in sources, as the URL path and the `Source` dimension name them.
fn builtin_sources() -> Vec<&'static str> {
    senders::builtin().names().collect()
}

/// The ingress's degraded answers: 503 because DynamoDB (`store_unavailable`) or SQS
/// (`enqueue_failed`) was unavailable.
const DEGRADED: [&str; 2] = ["store_unavailable", "enqueue_failed"];
/// The consumer's outcomes (`webhook_core::consumer`).
const CONSUMER_OUTCOMES: [&str; 5] = [
    "processed",
    "duplicate",
    "out_of_order",
    "quarantined",
    "failed",
];

/// The consumer's counts of business events put on the bus, and of those it could not put.
const BUSINESS_EVENT_COUNTS: [&str; 2] = ["published", "publish_failed"];

/// One metric a CloudWatch alarm or dashboard reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MetricRef {
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, String>,
}

impl MetricRef {
    fn ours(name: &str, dimensions: &[(&str, &str)]) -> Self {
        Self {
            namespace: metrics::NAMESPACE.to_owned(),
            name: name.to_owned(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn of_function(name: &str, function: &str) -> Self {
        Self::ours(name, &[("Stack", STACK), ("Function", function)])
    }

    fn of_source(name: &str, source: &str) -> Self {
        Self::ours(
            name,
            &[
                ("Stack", STACK),
                ("Function", "ingress"),
                ("Source", source),
            ],
        )
    }

    fn aws(namespace: &str, name: &str, dimension: (&str, &str)) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: BTreeMap::from([(dimension.0.to_owned(), dimension.1.to_owned())]),
        }
    }

    fn from_alarm_fields(metric: &Value) -> Self {
        Self {
            namespace: metric["Namespace"].as_str().unwrap().to_owned(),
            name: metric["MetricName"].as_str().unwrap().to_owned(),
            dimensions: metric["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|d| {
                    (
                        d["Name"].as_str().unwrap().to_owned(),
                        d["Value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
        }
    }
}

/// An alarm as deployed: what it reads, and how it decides.
#[derive(Debug)]
struct Alarm {
    name: String,
    properties: Value,
    /// Metric id (`None` for a single-metric alarm) → the metric, its period and statistic.
    metrics: BTreeMap<Option<String>, (MetricRef, u64, String)>,
    /// The expression whose value is compared, for a metric-math alarm.
    expression: Option<String>,
}

/// The alarms this deploy creates (those whose condition holds).
fn deployed_alarms(deploy: &Deploy) -> Vec<Alarm> {
    resources_of_type(deploy.template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter_map(|(name, _)| {
            let properties = deploy.resource(name)?;
            let mut metrics = BTreeMap::new();
            let mut expression = None;
            if properties["MetricName"].is_string() {
                metrics.insert(
                    None,
                    (
                        MetricRef::from_alarm_fields(&properties),
                        number(&properties["Period"]),
                        properties["Statistic"].as_str().unwrap().to_owned(),
                    ),
                );
            }
            for query in properties["Metrics"].as_sequence().into_iter().flatten() {
                let id = query["Id"].as_str().unwrap().to_owned();
                if let Some(text) = query["Expression"].as_str() {
                    assert!(query["ReturnData"] == true, "{name}: {id} is not returned");
                    assert!(expression.is_none(), "{name} returns two expressions");
                    expression = Some(text.to_owned());
                    continue;
                }
                assert!(query["ReturnData"] == false, "{name}: {id} is returned");
                let stat = &query["MetricStat"];
                metrics.insert(
                    Some(id),
                    (
                        MetricRef::from_alarm_fields(&stat["Metric"]),
                        number(&stat["Period"]),
                        stat["Stat"].as_str().unwrap().to_owned(),
                    ),
                );
            }
            Some(Alarm {
                name: name.to_owned(),
                properties,
                metrics,
                expression,
            })
        })
        .collect()
}

impl Alarm {
    fn watched(&self) -> BTreeSet<&MetricRef> {
        self.metrics.values().map(|(metric, _, _)| metric).collect()
    }

    /// Fires on one occurrence, summed over five minutes, of any of its metrics.
    fn assert_fires_on_the_first_in_five_minutes(&self) {
        let name = &self.name;
        for (metric, period, stat) in self.metrics.values() {
            assert_eq!(*period, 300, "{name} reads {metric:?}");
            assert_eq!(stat, "Sum", "{name} reads {metric:?}");
        }
        if self.metrics.len() > 1 {
            // Missing series are skipped by SUM, so one metric with data is enough.
            let ids: BTreeSet<&str> = self.metrics.keys().flatten().map(String::as_str).collect();
            let expression = self.expression.as_deref().unwrap_or_default();
            let summed: BTreeSet<&str> = expression
                .strip_prefix("SUM([")
                .and_then(|e| e.strip_suffix("])"))
                .unwrap_or_else(|| panic!("{name} computes {expression:?}, not SUM([...])"))
                .split(',')
                .map(str::trim)
                .collect();
            assert_eq!(summed, ids, "{name} does not sum all its metrics");
        }
        let p = &self.properties;
        assert_eq!(number(&p["EvaluationPeriods"]), 1, "{name}");
        assert_eq!(number(&p["Threshold"]), 1, "{name}");
        assert_eq!(
            p["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{name}"
        );
        assert_eq!(p["TreatMissingData"], "notBreaching", "{name}");
    }
}

/// Every metric the dashboard plots.
fn dashboard_metrics(deploy: &Deploy) -> BTreeSet<MetricRef> {
    let dashboards = resources_of_type(deploy.template, "AWS::CloudWatch::Dashboard");
    let [(name, _)] = dashboards.as_slice() else {
        panic!("the template should declare one dashboard");
    };
    let dashboard = deploy.resource(name).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(dashboard["DashboardBody"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}"));
    let mut found = BTreeSet::new();
    for widget in body["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let fields: Vec<&str> = metric
                .as_array()
                .unwrap()
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect();
            assert!(
                fields.len() >= 2 && fields.len().is_multiple_of(2) && !fields.contains(&"."),
                "{metric} should be namespace, name and dimension pairs, in full"
            );
            found.insert(MetricRef {
                namespace: fields[0].to_owned(),
                name: fields[1].to_owned(),
                dimensions: fields[2..]
                    .chunks(2)
                    .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                    .collect(),
            });
        }
    }
    found
}

#[test]
fn events_table_matches_local_stack() {
    // Given the template
    let template = template();

    // When its events table is read
    let table = declared_table(&template, "EventsTable");

    // Then it has the local table's keys, TTL attribute and indexes
    assert_eq!(table, provision::EVENTS_TABLE);
}

#[test]
fn items_table_matches_local_stack() {
    let template = template();

    let table = declared_table(&template, "ItemsTable");

    assert_eq!(table, provision::ITEMS_TABLE);
    assert_eq!(table.ttl_attribute, None, "nothing sets a TTL on items");
}

#[test]
fn tables_are_protected_from_deletion() {
    let template = template();

    for table in ["EventsTable", "ItemsTable"] {
        let resource = &template["Resources"][table];
        assert!(
            resource["Properties"]["DeletionProtectionEnabled"] == true,
            "{table} lacks deletion protection"
        );
        assert_eq!(resource["DeletionPolicy"], "Retain", "{table}");
        assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{table}");
        assert!(
            resource["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
                == true,
            "{table}"
        );
    }
}

#[test]
fn queue_redrive_matches_local_stack() {
    let template = template();

    let redrive = &properties(&template, "EventsQueue")["RedrivePolicy"];

    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        u64::from(provision::MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        get_att(&redrive["deadLetterTargetArn"]),
        Some("DeadLetterQueue.Arn")
    );
}

#[test]
fn queue_limits_match_local_stack() {
    let template = template();

    let queue = properties(&template, "EventsQueue");
    let dlq = properties(&template, "DeadLetterQueue");

    assert_eq!(
        number(&queue["VisibilityTimeout"]),
        u64::from(provision::VISIBILITY_TIMEOUT_SECS)
    );
    for q in [queue, dlq] {
        assert_eq!(
            number(&q["MaximumMessageSize"]),
            u64::from(provision::MAX_MESSAGE_BYTES)
        );
    }
    assert_eq!(
        number(&dlq["MessageRetentionPeriod"]),
        u64::from(provision::DLQ_RETENTION_SECS)
    );
}

#[test]
fn consumer_reads_the_queue_as_the_local_poller_does() {
    let template = template();

    let consumer = properties(&template, "ConsumerFunction");
    let sqs_events: Vec<&Value> = consumer["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|e| e["Type"] == "SQS")
        .collect();

    assert_eq!(
        number(&consumer["Timeout"]),
        u64::from(provision::CONSUMER_TIMEOUT_SECS)
    );
    let [event] = sqs_events.as_slice() else {
        panic!("the consumer should have exactly one SQS event source");
    };
    let event = &event["Properties"];
    assert_eq!(get_att(&event["Queue"]), Some("EventsQueue.Arn"));
    assert_eq!(
        number(&event["BatchSize"]),
        u64::from(provision::BATCH_SIZE)
    );
    assert!(
        event["FunctionResponseTypes"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|t| t == "ReportBatchItemFailures"),
        "without ReportBatchItemFailures one bad record retries its whole batch"
    );
}

#[test]
fn consumer_concurrency_is_capped_by_a_parameter() {
    let template = template();

    let event = properties(&template, "ConsumerFunction")["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "SQS")
        .unwrap();
    let parameter = ref_target(&event["Properties"]["ScalingConfig"]["MaximumConcurrency"])
        .expect("MaximumConcurrency should come from a parameter");

    let parameter = &template["Parameters"][parameter];
    // SQS event source mappings take 2 to 1000.
    assert_eq!(number(&parameter["MinValue"]), 2);
    assert_eq!(number(&parameter["MaxValue"]), 1000);
    assert_eq!(number(&parameter["Default"]), 10);
}

#[test]
fn ingress_gets_every_variable_its_config_reads() {
    // Given a first deploy, which creates both secrets from the parameters
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let vars = env_vars(&template, "IngressFunction");

    // When the ingress reads its configuration and its secrets
    let env = deploy.environment("IngressFunction");
    let (config, sources) = ingress_sources(&env, &deploy.secrets_manager(&[])).unwrap();

    // Then every variable is set, each configured source has its secret's ARN, and the limits
    // are the defaults
    for name in [
        "EVENTS_TABLE",
        "QUEUE_URL",
        "WEBHOOK_SOURCES",
        "MAX_BODY_BYTES",
        "RETENTION_DAYS",
        metrics::STACK_VAR,
    ] {
        assert!(vars.contains_key(name), "ingress lacks {name}");
    }
    assert_eq!(ref_target(vars["EVENTS_TABLE"]), Some("EventsTable"));
    assert_eq!(ref_target(vars["QUEUE_URL"]), Some("EventsQueue"));
    assert!(
        config.sources.is_empty(),
        "a source is configured from the environment"
    );
    assert_eq!(sources.len(), builtin_sources().len());
    for source in &config.secret_sources {
        assert_eq!(
            source.var(),
            format!("{}SECRET_ARN", config::source_prefix(&source.name))
        );
        assert!(
            env.contains_key(&source.var()),
            "ingress lacks {}",
            source.var()
        );
    }
    assert_eq!(config.max_body_bytes, config::DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.retention_days, config::DEFAULT_RETENTION_DAYS);
}

#[test]
fn consumer_gets_every_variable_its_config_reads() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);

    let vars = env_vars(&template, "ConsumerFunction");
    let config = ConsumerConfig::from_env(&deploy.environment("ConsumerFunction")).unwrap();

    assert_eq!(config.events_table, "EventsTable");
    assert_eq!(config.items_table, "ItemsTable");
    assert_eq!(ref_target(vars["EVENTS_TABLE"]), Some("EventsTable"));
    assert_eq!(ref_target(vars["ITEMS_TABLE"]), Some("ItemsTable"));
}

#[test]
fn consumer_publishes_on_the_stack_bus_under_the_configured_prefix() {
    let template = template();
    let vars = env_vars(&template, "ConsumerFunction");

    // Given the default prefix, and one of the operator's
    let default = Deploy::new(&template, &[]).environment("ConsumerFunction");
    let custom = Deploy::new(&template, &[("EventSourcePrefix", "acme.webhooks")])
        .environment("ConsumerFunction");

    // When the consumer reads its configuration
    let default = ConsumerConfig::from_env(&default).unwrap();
    let custom = ConsumerConfig::from_env(&custom).unwrap();

    // Then it gets the bus by its name (its Ref) and the prefix from the parameter, whose
    // default is the consumer's
    assert_eq!(ref_target(vars["EVENT_BUS_NAME"]), Some("BusinessEventBus"));
    assert_eq!(
        ref_target(vars["EVENT_SOURCE_PREFIX"]),
        Some("EventSourcePrefix")
    );
    assert_eq!(default.event_bus, "BusinessEventBus");
    assert_eq!(default.event_source_prefix, "webhooks");
    assert_eq!(custom.event_source_prefix, "acme.webhooks");
    let prefix = &template["Parameters"]["EventSourcePrefix"];
    assert_eq!(prefix["Default"], config::DEFAULT_EVENT_SOURCE_PREFIX);
    // EventBridge reserves the sources of AWS services: neither "aws" nor "aws.<anything>".
    assert!(
        prefix["AllowedPattern"]
            .as_str()
            .unwrap()
            .starts_with(r"^(?!aws(\.|$))"),
        "{:?}",
        prefix["AllowedPattern"]
    );
}

#[test]
fn every_function_counts_under_its_stack() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);

    for function in FUNCTIONS {
        let function_props = properties(&template, function);
        let env = deploy.environment(function);

        assert_eq!(env[metrics::STACK_VAR], STACK, "{function}");
        assert_eq!(
            deploy.resolve(&template["Globals"]["Function"]["Architectures"]),
            Some(Value::Sequence(vec!["arm64".into()])),
        );
        assert!(
            function_props["Architectures"].is_null() && function_props["Tracing"].is_null(),
            "{function} overrides the Globals"
        );
    }
}

#[test]
fn no_function_gets_a_secret_in_its_environment() {
    let template = template();
    let no_echo: BTreeSet<&str> = template["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"] == true)
        .map(|(name, _)| name.as_str().unwrap())
        .collect();

    // Every parameter that holds a secret is NoEcho
    for name in template["Parameters"].as_mapping().unwrap().keys() {
        let name = name.as_str().unwrap();
        let lower = name.to_ascii_lowercase();
        let holds_secret =
            (lower.contains("secret") && !lower.ends_with("arn")) || lower.contains("headervalue");
        assert!(
            !holds_secret || no_echo.contains(name),
            "{name} holds a secret but lacks NoEcho"
        );
    }
    assert!(!no_echo.is_empty());

    // No function's environment names a secret or refers to a NoEcho parameter
    for function in FUNCTIONS {
        for (name, value) in env_vars(&template, function) {
            assert!(
                !name.ends_with("_SECRETS") && !name.contains("_AUTH_HEADER_"),
                "{function} gets {name}"
            );
            let mentioned = mentions(value);
            assert!(
                mentioned.iter().all(|m| !no_echo.contains(m.as_str())),
                "{function}'s {name} refers to a NoEcho parameter"
            );
        }
    }

    // The NoEcho parameters reach nothing but the secrets the stack creates, the forwarding
    // connection's API key value (which EventBridge keeps in a Secrets Manager secret of its own
    // and never returns), and the Rules and Conditions, which CloudFormation never shows
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] == "AWS::SecretsManager::Secret" {
            continue;
        }
        let mut resource = resource.clone();
        if resource["Type"] == "AWS::Events::Connection" {
            resource["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]
                .as_mapping_mut()
                .unwrap()
                .remove("ApiKeyValue");
        }
        for mentioned in mentions(&resource) {
            assert!(
                !no_echo.contains(mentioned.as_str()),
                "{name:?} refers to {mentioned}"
            );
        }
    }
    for mentioned in mentions(&template["Outputs"]) {
        assert!(
            !no_echo.contains(mentioned.as_str()),
            "an output refers to {mentioned}"
        );
    }
}

/// Every parameter or resource named by a `!Ref`, a `!GetAtt` or a `!Sub` within `value`.
fn mentions(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    match value {
        Value::Tagged(tagged) => {
            if let (true, Some(target)) = (tagged.tag == "Ref", tagged.value.as_str()) {
                found.insert(target.to_owned());
            }
            if let Some(target) = get_att(value) {
                found.insert(target.split('.').next().unwrap().to_owned());
            }
            if let (true, Some(text)) = (tagged.tag == "Sub", tagged.value.as_str()) {
                for part in text.split("${").skip(1) {
                    let name = part.split('}').next().unwrap();
                    found.insert(name.split('.').next().unwrap().to_owned());
                }
            }
            found.extend(mentions(&tagged.value));
        }
        Value::Sequence(items) => items.iter().for_each(|i| found.extend(mentions(i))),
        Value::Mapping(map) => map.values().for_each(|v| found.extend(mentions(v))),
        _ => {}
    }
    found
}

#[test]
fn created_secrets_hold_the_documents_the_ingress_reads() {
    let template = template();
    let created = |overrides: &[(&str, &str)], secret: &str| {
        let deploy = Deploy::new(&template, overrides);
        document(&deploy.secrets_manager(&[])[secret])
    };
    let header = |name: &str, value: &str| Some((name.to_owned(), value.to_owned()));

    // Legitmark's list, separated by spaces or commas, becomes a JSON array
    for (list, expected) in [
        ("whsec_a", vec!["whsec_a"]),
        ("whsec_a whsec_b", vec!["whsec_a", "whsec_b"]),
        ("whsec_a,whsec_b", vec!["whsec_a", "whsec_b"]),
        (
            "whsec_a whsec_b,whsec_c",
            vec!["whsec_a", "whsec_b", "whsec_c"],
        ),
    ] {
        let legitmark = created(&[("LegitmarkSigningSecrets", list)], "LegitmarkSecret");
        assert_eq!(legitmark.secrets, expected, "{list:?}");
        assert_eq!(legitmark.auth_header, None, "{list:?}");
    }

    // Cr3dentials' secret, header, or both
    let cr3dentials = |secret: &str, name: &str, value: &str| {
        let document = created(
            &[
                ("Cr3dentialsSigningSecret", secret),
                ("Cr3dentialsAuthHeaderName", name),
                ("Cr3dentialsAuthHeaderValue", value),
            ],
            "Cr3dentialsSecret",
        );
        (document.secrets, document.auth_header)
    };
    assert_eq!(
        cr3dentials("s3cret with spaces, commas", "", ""),
        (vec!["s3cret with spaces, commas".to_owned()], None)
    );
    assert_eq!(
        cr3dentials("", "X-API-Key", "key value"),
        (vec![], header("X-API-Key", "key value"))
    );
    assert_eq!(
        cr3dentials("s", "X-API-Key", "v"),
        (vec!["s".to_owned()], header("X-API-Key", "v"))
    );

    // And the ingress starts with the local stack's secrets stored that way
    let deploy = Deploy::new(&template, &[]);
    let started = ingress_sources(
        &deploy.environment("IngressFunction"),
        &deploy.secrets_manager(&[]),
    );
    assert!(started.is_ok(), "{:?}", started.err());
}

#[test]
fn existing_secrets_are_used_as_given_and_none_is_created() {
    let template = template();
    let deploy = Deploy::new(
        &template,
        &[
            ("LegitmarkSecretArn", EXISTING_LEGITMARK_ARN),
            ("Cr3dentialsSecretArn", EXISTING_CR3DENTIALS_ARN),
            // Nothing else is needed when the secrets exist.
            ("LegitmarkSigningSecrets", ""),
            ("Cr3dentialsSigningSecret", ""),
            ("Cr3dentialsAuthHeaderName", ""),
            ("Cr3dentialsAuthHeaderValue", ""),
        ],
    );

    let env = deploy.environment("IngressFunction");
    let created = deploy.secrets_manager(&[]);

    assert!(created.is_empty(), "{created:?}");
    assert_eq!(env["SOURCE_LEGITMARK_SECRET_ARN"], EXISTING_LEGITMARK_ARN);
    assert_eq!(
        env["SOURCE_CR3DENTIALS_SECRET_ARN"],
        EXISTING_CR3DENTIALS_ARN
    );
    assert!(rules_admit(&deploy));
}

#[test]
fn ingress_may_read_exactly_the_secrets_it_is_given() {
    let template = template();

    for overrides in [
        vec![],
        vec![("LegitmarkSecretArn", EXISTING_LEGITMARK_ARN)],
        vec![
            ("LegitmarkSecretArn", EXISTING_LEGITMARK_ARN),
            ("Cr3dentialsSecretArn", EXISTING_CR3DENTIALS_ARN),
        ],
    ] {
        // Given a deploy that creates both secrets, one, or none
        let deploy = Deploy::new(&template, &overrides);
        let given: BTreeSet<String> = deploy
            .environment("IngressFunction")
            .into_iter()
            .filter(|(name, _)| name.ends_with("_SECRET_ARN"))
            .map(|(_, arn)| arn)
            .collect();

        // When the roles' Secrets Manager statements are read
        let mut granted = BTreeMap::new();
        for (role, _) in resources_of_type(&template, "AWS::IAM::Role") {
            for statement in deploy.statements(role) {
                if actions(&statement)
                    .iter()
                    .any(|a| a.starts_with("secretsmanager:"))
                {
                    granted.insert(role, statement);
                }
            }
        }

        // Then only the ingress may read them, and only them, and do nothing else there
        assert_eq!(given.len(), builtin_sources().len(), "{overrides:?}");
        assert_eq!(
            granted.keys().copied().collect::<Vec<_>>(),
            ["IngressRole"],
            "{overrides:?}"
        );
        let statement = &granted["IngressRole"];
        assert_eq!(
            actions(statement),
            ["secretsmanager:GetSecretValue"],
            "{overrides:?}"
        );
        assert_eq!(resources(statement), given, "{overrides:?}");
    }
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(actions) => actions
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

fn resources(statement: &Value) -> BTreeSet<String> {
    match &statement["Resource"] {
        Value::String(resource) => BTreeSet::from([resource.clone()]),
        Value::Sequence(resources) => resources
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("unexpected Resource {other:?}"),
    }
}

/// X-Ray's write actions, which take no resource: the only ones a role may have on `*`.
const XRAY_ACTIONS: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

#[test]
fn roles_grant_nothing_on_every_resource() {
    let template = template();
    // A resource of this stack, a parameter naming one (a secret, the KMS key), or a path under
    // a resource's ARN (a table's index).
    let scoped = |resource: &Value| -> bool {
        fn one(template: &Value, resource: &Value) -> bool {
            if let Some((_, then, otherwise)) = if_args(resource) {
                return one(template, then) && one(template, otherwise);
            }
            if let Some(target) = get_att(resource) {
                return is_resource(template, target.split('.').next().unwrap());
            }
            if let Some(target) = ref_target(resource) {
                return is_resource(template, target)
                    || template["Parameters"][target].is_mapping();
            }
            match resource {
                Value::Tagged(tagged) if tagged.tag == "Sub" => {
                    let text = tagged.value.as_str().unwrap();
                    text.strip_prefix("${")
                        .and_then(|t| t.split_once(".Arn}/"))
                        .is_some_and(|(name, _)| is_resource(template, name))
                }
                _ => false,
            }
        }
        one(&template, resource)
    };

    let mut checked = 0;
    for (role, resource) in resources_of_type(&template, "AWS::IAM::Role") {
        let statements = resource["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap());
        for statement in statements {
            let (condition, statement) = match if_args(statement) {
                Some((condition, then, otherwise)) => {
                    assert_eq!(ref_target(otherwise), Some("AWS::NoValue"), "{role}");
                    (Some(condition), then)
                }
                None => (None, statement),
            };
            let listed = match &statement["Resource"] {
                Value::Sequence(items) => items.iter().collect(),
                one => vec![one],
            };
            for resource in listed {
                if resource == "*" {
                    assert!(
                        condition == Some("TracingActive")
                            && actions(statement)
                                .iter()
                                .all(|a| XRAY_ACTIONS.contains(&a.as_str())),
                        "{role}: {statement:?} is granted on every resource"
                    );
                } else {
                    assert!(
                        scoped(resource),
                        "{role}: {statement:?} is not scoped to resources of the stack"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

#[test]
fn a_kms_key_encrypts_tables_queues_and_secrets_and_the_roles_may_use_it() {
    let template = template();
    let roles: Vec<&str> = resources_of_type(&template, "AWS::IAM::Role")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let kms_statements = |deploy: &Deploy, role: &str| -> Vec<Value> {
        deploy
            .statements(role)
            .into_iter()
            .filter(|s| actions(s).iter().any(|a| a.starts_with("kms:")))
            .collect()
    };
    assert_eq!(template["Parameters"]["KmsKeyArn"]["Default"], "");

    // Given no key: AWS-managed encryption, and no KMS permission
    let deploy = Deploy::new(&template, &[]);
    for table in ["EventsTable", "ItemsTable"] {
        assert!(deploy.resource(table).unwrap()["SSESpecification"].is_null());
    }
    for queue in ["EventsQueue", "DeadLetterQueue"] {
        let queue = deploy.resource(queue).unwrap();
        assert!(queue["SqsManagedSseEnabled"] == true);
        assert!(queue["KmsMasterKeyId"].is_null());
    }
    for (secret, _) in resources_of_type(&template, "AWS::SecretsManager::Secret") {
        assert!(deploy.resource(secret).unwrap()["KmsKeyId"].is_null());
    }
    for role in &roles {
        assert!(kms_statements(&deploy, role).is_empty(), "{role}");
    }

    // Given a key: it encrypts everything, and every function's role may use it (and no other
    // role, such as forwarding's, which EventBridge assumes)
    let deploy = Deploy::new(
        &template,
        &[("KmsKeyArn", KMS_KEY), ("ForwardUrl", FORWARD_URL)],
    );
    for table in ["EventsTable", "ItemsTable"] {
        let sse = &deploy.resource(table).unwrap()["SSESpecification"];
        assert!(sse["SSEEnabled"] == true, "{table}");
        assert_eq!(sse["SSEType"], "KMS", "{table}");
        assert_eq!(sse["KMSMasterKeyId"], KMS_KEY, "{table}");
    }
    for queue in ["EventsQueue", "DeadLetterQueue"] {
        let queue = deploy.resource(queue).unwrap();
        assert!(queue["SqsManagedSseEnabled"].is_null());
        assert_eq!(queue["KmsMasterKeyId"], KMS_KEY);
    }
    for (secret, _) in resources_of_type(&template, "AWS::SecretsManager::Secret") {
        assert_eq!(deploy.resource(secret).unwrap()["KmsKeyId"], KMS_KEY);
    }
    let function_roles = function_roles(&template);
    for role in &roles {
        let statements = kms_statements(&deploy, role);
        if !function_roles.contains(role) {
            assert!(statements.is_empty(), "{role}: {statements:?}");
            continue;
        }
        let [statement] = statements.as_slice() else {
            panic!("{role} should have one KMS statement: {statements:?}");
        };
        assert_eq!(
            actions(statement),
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "{role}"
        );
        assert_eq!(
            resources(statement),
            BTreeSet::from([KMS_KEY.to_owned()]),
            "{role}"
        );
    }
}

#[test]
fn tracing_is_optional_and_permitted_when_active() {
    let template = template();
    let parameter = &template["Parameters"]["Tracing"];
    let xray_statements = |deploy: &Deploy, role: &str| -> usize {
        deploy
            .statements(role)
            .iter()
            .filter(|s| actions(s).iter().any(|a| a.starts_with("xray:")))
            .count()
    };

    assert_eq!(parameter["Default"], "PassThrough");
    assert_eq!(
        parameter["AllowedValues"],
        Value::Sequence(vec!["Active".into(), "PassThrough".into()])
    );
    assert_eq!(
        ref_target(&template["Globals"]["Function"]["Tracing"]),
        Some("Tracing")
    );
    let function_roles = function_roles(&template);
    for (role, _) in resources_of_type(&template, "AWS::IAM::Role") {
        let passthrough = Deploy::new(&template, &[("ForwardUrl", FORWARD_URL)]);
        let active = Deploy::new(
            &template,
            &[("Tracing", "Active"), ("ForwardUrl", FORWARD_URL)],
        );
        // Only the functions trace.
        let traced = usize::from(function_roles.contains(&role));
        assert_eq!(xray_statements(&passthrough, role), 0, "{role}");
        assert_eq!(xray_statements(&active, role), traced, "{role}");
    }
}

/// Whether the template's `Rules` let this deploy go ahead.
fn rules_admit(deploy: &Deploy) -> bool {
    deploy.template["Rules"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|rule| {
            let condition = &rule["RuleCondition"];
            condition.is_null() || deploy.holds(condition)
        })
        .flat_map(|rule| rule["Assertions"].as_sequence().unwrap())
        .all(|assertion| deploy.holds(&assertion["Assert"]))
}

#[test]
fn rules_admit_exactly_the_secrets_the_ingress_starts_with() {
    const SECRET: &str = "Cr3dentialsSigningSecret";
    const HEADER_NAME: &str = "Cr3dentialsAuthHeaderName";
    const HEADER_VALUE: &str = "Cr3dentialsAuthHeaderValue";
    let template = template();

    for rule in template["Rules"].as_mapping().unwrap().values() {
        for assertion in rule["Assertions"].as_sequence().unwrap() {
            let description = assertion["AssertDescription"].as_str().unwrap_or_default();
            assert!(
                !description.is_empty(),
                "{assertion:?} has no AssertDescription"
            );
        }
    }
    for existing in ["", EXISTING_CR3DENTIALS_ARN] {
        for secret in ["", "cr3d-test-secret"] {
            for header_name in ["", "X-API-Key"] {
                for header_value in ["", "your-secure-secret-key-here"] {
                    // given Cr3dentials parameters: a secret, a header, both, neither, or half a
                    // header; with or without an existing secret
                    let deploy = Deploy::new(
                        &template,
                        &[
                            ("Cr3dentialsSecretArn", existing),
                            (SECRET, secret),
                            (HEADER_NAME, header_name),
                            (HEADER_VALUE, header_value),
                        ],
                    );

                    // when CloudFormation checks the rules, and the ingress reads its
                    // configuration from the secret the stack created
                    let admitted = rules_admit(&deploy);
                    let starts = ingress_sources(
                        &deploy.environment("IngressFunction"),
                        &deploy.secrets_manager(&[(
                            EXISTING_CR3DENTIALS_ARN,
                            r#"{"secrets": ["an existing secret"]}"#,
                        )]),
                    );

                    // then an existing secret is not the rules' business, and otherwise the
                    // rules refuse exactly what the ingress would refuse to start with
                    let refused = starts.as_ref().err();
                    let case = format!(
                        "existing {existing:?}, secret {secret:?}, \
                         header {header_name:?}: {header_value:?} -> {refused:?}"
                    );
                    if existing.is_empty() {
                        assert_eq!(admitted, starts.is_ok(), "{case}");
                    } else {
                        assert!(admitted && starts.is_ok(), "{case}");
                    }
                }
            }
        }
    }
    let no_authentication = [(SECRET, ""), (HEADER_NAME, ""), (HEADER_VALUE, "")];
    assert!(
        !rules_admit(&Deploy::new(&template, &no_authentication)),
        "a stack creating a Cr3dentials secret with no authentication must be refused"
    );
    assert!(
        !rules_admit(&Deploy::new(&template, &[("LegitmarkSigningSecrets", "")])),
        "a stack creating a Legitmark secret with no secret must be refused"
    );
    assert!(rules_admit(&Deploy::new(
        &template,
        &[
            ("LegitmarkSigningSecrets", ""),
            ("LegitmarkSecretArn", EXISTING_LEGITMARK_ARN)
        ]
    )));
}

#[test]
fn every_alarm_on_our_metrics_reads_its_stack_and_function() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);

    let alarms = deployed_alarms(&deploy);
    let ours: Vec<(&str, &MetricRef)> = alarms
        .iter()
        .flat_map(|a| a.watched().into_iter().map(|m| (a.name.as_str(), m)))
        .filter(|(_, m)| m.namespace == metrics::NAMESPACE)
        .collect();

    assert!(!ours.is_empty());
    for (alarm, metric) in ours {
        assert_eq!(
            metric.dimensions.get("Stack").map(String::as_str),
            Some(STACK),
            "{alarm}"
        );
        assert!(
            ["ingress", "consumer"]
                .map(Some)
                .contains(&metric.dimensions.get("Function").map(String::as_str)),
            "{alarm}"
        );
    }
}

#[test]
fn quarantines_raise_an_alarm_for_each_function() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let alarms = deployed_alarms(&deploy);

    for function in ["ingress", "consumer"] {
        // given the function's EMF counter of quarantines
        let metric = MetricRef::of_function(Outcome::Quarantined.name(), function);

        // when the template's alarms are read
        let found: Vec<&Alarm> = alarms
            .iter()
            .filter(|a| a.watched() == BTreeSet::from([&metric]))
            .collect();

        // then exactly one of them fires on the first quarantine within five minutes
        let [alarm] = found.as_slice() else {
            panic!("expected one alarm on {metric:?}, found {found:?}");
        };
        alarm.assert_fires_on_the_first_in_five_minutes();
    }
}

#[test]
fn authentication_failures_raise_an_alarm_for_each_source() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let alarms = deployed_alarms(&deploy);

    for source in builtin_sources() {
        // given every rejected_<class> count of the source
        let rejected: BTreeSet<MetricRef> = failure_classes()
            .into_iter()
            .map(|class| MetricRef::of_source(&rejected_metric(class), source))
            .collect();

        // when the alarms reading them are found
        let found: Vec<&Alarm> = alarms
            .iter()
            .filter(|a| a.watched().iter().any(|m| rejected.contains(m)))
            .collect();

        // then one alarm sums them all and fires on the first within five minutes
        let [alarm] = found.as_slice() else {
            panic!("expected one alarm on {source}'s rejections, found {found:?}");
        };
        assert_eq!(
            alarm.watched(),
            rejected.iter().collect::<BTreeSet<_>>(),
            "{}",
            alarm.name
        );
        alarm.assert_fires_on_the_first_in_five_minutes();
    }
}

#[test]
fn degraded_answers_raise_an_alarm() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let degraded: BTreeSet<MetricRef> = DEGRADED
        .iter()
        .map(|name| MetricRef::of_function(name, "ingress"))
        .collect();

    let alarms = deployed_alarms(&deploy);
    let found: Vec<&Alarm> = alarms
        .iter()
        .filter(|a| a.watched() == degraded.iter().collect::<BTreeSet<_>>())
        .collect();

    let [alarm] = found.as_slice() else {
        panic!("expected one alarm on {degraded:?}, found {found:?}");
    };
    alarm.assert_fires_on_the_first_in_five_minutes();
}

#[test]
fn queues_and_the_url_keep_their_alarms() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let alarms = deployed_alarms(&deploy);
    let alarm_on = |metric: &MetricRef| {
        alarms
            .iter()
            .find(|a| a.watched() == BTreeSet::from([metric]))
            .unwrap_or_else(|| panic!("no alarm on {metric:?}"))
    };

    let dlq = alarm_on(&MetricRef::aws(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        ("QueueName", "DeadLetterQueue.QueueName"),
    ));
    let age = alarm_on(&MetricRef::aws(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        ("QueueName", "EventsQueue.QueueName"),
    ));
    let server_errors = alarm_on(&MetricRef::aws(
        "AWS/Lambda",
        "Url5xxCount",
        ("FunctionName", "IngressFunction"),
    ));

    assert_eq!(number(&dlq.properties["Threshold"]), 0);
    assert_eq!(dlq.properties["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(number(&age.properties["Threshold"]), 300);
    assert_eq!(number(&server_errors.properties["Threshold"]), 0);
}

#[test]
fn dashboard_shows_every_figure_on_call_needs() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);

    let shown = dashboard_metrics(&deploy);

    let mut expected = Vec::new();
    for source in builtin_sources() {
        for outcome in [Outcome::Accepted, Outcome::Duplicate, Outcome::Quarantined] {
            expected.push(MetricRef::of_source(outcome.name(), source));
        }
        for class in failure_classes() {
            expected.push(MetricRef::of_source(&rejected_metric(class), source));
        }
    }
    for name in DEGRADED {
        expected.push(MetricRef::of_function(name, "ingress"));
    }
    for name in CONSUMER_OUTCOMES.iter().chain(&BUSINESS_EVENT_COUNTS) {
        expected.push(MetricRef::of_function(name, "consumer"));
    }
    let ingress = ("FunctionName", "IngressFunction");
    let queue = ("QueueName", "EventsQueue.QueueName");
    expected.extend([
        // the ack latency as senders see it, and the function's share of it
        MetricRef::aws("AWS/Lambda", "UrlRequestLatency", ingress),
        MetricRef::aws("AWS/Lambda", "Duration", ingress),
        MetricRef::aws("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue),
        MetricRef::aws("AWS/SQS", "ApproximateAgeOfOldestMessage", queue),
        MetricRef::aws(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            ("QueueName", "DeadLetterQueue.QueueName"),
        ),
    ]);
    for metric in &expected {
        assert!(shown.contains(metric), "the dashboard lacks {metric:?}");
    }
    for metric in shown.iter().filter(|m| m.namespace == metrics::NAMESPACE) {
        assert_eq!(
            metric.dimensions.get("Stack").map(String::as_str),
            Some(STACK),
            "{metric:?}"
        );
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let template = template();

    // `!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]`
    let is_topic =
        |topics: &[Value]| matches!(topics, [topic] if ref_target(topic) == Some("AlarmTopicArn"));
    let routed = |actions: &Value| match if_args(actions) {
        Some((condition, Value::Sequence(topics), otherwise)) => {
            condition == "HasAlarmTopic"
                && is_topic(topics)
                && ref_target(otherwise) == Some("AWS::NoValue")
        }
        _ => false,
    };

    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty());
    for (name, alarm) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            assert!(
                routed(&alarm["Properties"][actions]),
                "{name}'s {actions} do not go to AlarmTopicArn"
            );
        }
    }
}

/// The resources that exist only when business events are forwarded to `ForwardUrl`.
const FORWARDING: [&str; 9] = [
    "ForwardConnection",
    "ForwardApiDestination",
    "ForwardRole",
    "ForwardRule",
    "ForwardDeadLetterQueue",
    "ForwardDeadLetterQueuePolicy",
    "ForwardDeadLetterQueueAlarm",
    "ForwardRetryingAlarm",
    "ForwardUndeliverableAlarm",
];

/// A metric of the forwarding rule (`AWS/Events`, dimensions `EventBusName` and `RuleName`, as
/// for every rule on a custom bus).
fn forwarding_metric(deploy: &Deploy, name: &str) -> MetricRef {
    let rule = deploy.resource("ForwardRule").unwrap();
    MetricRef {
        namespace: "AWS/Events".to_owned(),
        name: name.to_owned(),
        dimensions: BTreeMap::from([
            ("EventBusName".to_owned(), "BusinessEventBus".to_owned()),
            (
                "RuleName".to_owned(),
                rule["Name"].as_str().unwrap().to_owned(),
            ),
        ]),
    }
}

#[test]
fn business_events_have_a_bus_and_an_archive_for_replays() {
    let template = template();
    let retention = &template["Parameters"]["BusinessEventsRetentionDays"];

    // Given a deploy with the default retention, and one that keeps events indefinitely
    let default = Deploy::new(&template, &[]);
    let forever = Deploy::new(&template, &[("BusinessEventsRetentionDays", "0")]);

    // Then the stack has its own bus, named after the stack, always
    assert_eq!(
        template["Resources"]["BusinessEventBus"]["Type"],
        "AWS::Events::EventBus"
    );
    assert!(template["Resources"]["BusinessEventBus"]["Condition"].is_null());
    let bus = default.resource("BusinessEventBus").unwrap();
    assert_eq!(bus["Name"], format!("{STACK}-business-events"));

    // And an archive of that bus whose retention is the parameter's (0 = indefinitely)
    let archives = resources_of_type(&template, "AWS::Events::Archive");
    let [(archive, declared)] = archives.as_slice() else {
        panic!("expected one archive: {archives:?}");
    };
    assert!(declared["Condition"].is_null(), "{archive}");
    assert_eq!(
        get_att(&declared["Properties"]["SourceArn"]),
        Some("BusinessEventBus.Arn")
    );
    assert_eq!(
        ref_target(&declared["Properties"]["RetentionDays"]),
        Some("BusinessEventsRetentionDays")
    );
    assert_eq!(number(&retention["Default"]), 30);
    assert_eq!(number(&retention["MinValue"]), 0);
    assert!(
        retention["Description"]
            .as_str()
            .unwrap()
            .contains("0 keeps them indefinitely"),
        "the retention's description should say what 0 means"
    );
    assert_eq!(default.resource(archive).unwrap()["RetentionDays"], "30");
    assert_eq!(forever.resource(archive).unwrap()["RetentionDays"], "0");
}

#[test]
fn only_the_consumer_may_put_events_and_only_on_the_stack_bus() {
    let template = template();

    for overrides in [
        vec![],
        vec![
            ("ForwardUrl", FORWARD_URL),
            ("KmsKeyArn", KMS_KEY),
            ("Tracing", "Active"),
        ],
    ] {
        // Given a deploy, with or without forwarding
        let deploy = Deploy::new(&template, &overrides);

        // When every role's EventBridge statements are read
        let mut granted: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (role, _) in resources_of_type(&template, "AWS::IAM::Role") {
            for statement in deploy.statements(role) {
                if actions(&statement).iter().any(|a| a.starts_with("events:")) {
                    granted.entry(role).or_default().push(statement);
                }
            }
        }

        // Then the consumer may put events on the bus, nothing else and nowhere else; and the
        // forwarding role (when there is one) may only invoke its API destination
        let consumer = &granted["ConsumerRole"];
        let [statement] = consumer.as_slice() else {
            panic!("ConsumerRole should have one events statement: {consumer:?}");
        };
        assert_eq!(actions(statement), ["events:PutEvents"], "{overrides:?}");
        assert_eq!(
            resources(statement),
            BTreeSet::from(["BusinessEventBus.Arn".to_owned()]),
            "{overrides:?}"
        );
        assert!(!granted.contains_key("IngressRole"), "{overrides:?}");
        if let Some(forward) = granted.get("ForwardRole") {
            let [statement] = forward.as_slice() else {
                panic!("ForwardRole should have one statement: {forward:?}");
            };
            assert_eq!(actions(statement), ["events:InvokeApiDestination"]);
            assert_eq!(
                resources(statement),
                BTreeSet::from(["ForwardApiDestination.Arn".to_owned()])
            );
        }
        let roles: Vec<&str> = granted.keys().copied().collect();
        assert!(
            roles == ["ConsumerRole"] || roles == ["ConsumerRole", "ForwardRole"],
            "{overrides:?}: {roles:?}"
        );
    }
    // As written, too: the bus's ARN, not "*" or a pattern
    let statements =
        properties(&template, "ConsumerRole")["Policies"][0]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
    let put = statements
        .iter()
        .find(|s| s["Action"] == "events:PutEvents")
        .unwrap();
    assert_eq!(get_att(&put["Resource"]), Some("BusinessEventBus.Arn"));
}

#[test]
fn forwarding_exists_only_with_a_url() {
    let template = template();
    let conditional: BTreeSet<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Condition"] == "HasForwardUrl")
        .map(|(name, _)| name.as_str().unwrap())
        .collect();

    // Every forwarding resource carries the condition, and so does everything that names one
    assert_eq!(conditional, BTreeSet::from(FORWARDING));
    for kind in [
        "AWS::Events::Connection",
        "AWS::Events::ApiDestination",
        "AWS::Events::Rule",
    ] {
        for (name, _) in resources_of_type(&template, kind) {
            assert!(conditional.contains(name), "{name} lacks HasForwardUrl");
        }
    }
    let sections = [&template["Resources"], &template["Outputs"]];
    for (name, item) in sections.iter().flat_map(|s| s.as_mapping().unwrap()) {
        if mentions(item)
            .iter()
            .any(|m| conditional.contains(m.as_str()))
        {
            assert_eq!(item["Condition"], "HasForwardUrl", "{name:?}");
        }
    }
    assert_eq!(template["Parameters"]["ForwardUrl"]["Default"], "");

    // Without a URL nothing is forwarded; with one, everything is there
    let off = Deploy::new(&template, &[]);
    let on = Deploy::new(&template, &[("ForwardUrl", FORWARD_URL)]);
    for name in FORWARDING {
        assert!(off.resource(name).is_none(), "{name}");
        assert!(on.resource(name).is_some(), "{name}");
    }
}

#[test]
fn forwarding_posts_every_business_event_and_dead_letters_what_fails() {
    let template = template();
    let deploy = Deploy::new(
        &template,
        &[("ForwardUrl", FORWARD_URL), ("KmsKeyArn", KMS_KEY)],
    );

    // The API destination posts to the URL through the connection, at the parameter's rate
    let destination = deploy.resource("ForwardApiDestination").unwrap();
    assert_eq!(destination["HttpMethod"], "POST");
    assert_eq!(destination["InvocationEndpoint"], FORWARD_URL);
    assert_eq!(destination["ConnectionArn"], "ForwardConnection.Arn");
    assert_eq!(
        destination["InvocationRateLimitPerSecond"],
        deploy.parameter("ForwardRateLimitPerSecond")
    );

    // The rule on the stack's bus matches every business event, whatever the prefix
    for prefix in ["webhooks", "acme.webhooks"] {
        let deploy = Deploy::new(
            &template,
            &[("ForwardUrl", FORWARD_URL), ("EventSourcePrefix", prefix)],
        );
        let rule = deploy.resource("ForwardRule").unwrap();
        assert_eq!(rule["EventBusName"], "BusinessEventBus");
        assert_eq!(rule["State"], "ENABLED");
        let expected: Value =
            serde_norway::from_str(&format!("source: [{{prefix: \"{prefix}.\"}}]")).unwrap();
        assert_eq!(rule["EventPattern"], expected, "{prefix}");
    }

    // Its one target is the API destination, through the forwarding role, retried, with a
    // dead-letter queue
    let rule = deploy.resource("ForwardRule").unwrap();
    let targets = rule["Targets"].as_sequence().unwrap();
    let [target] = targets.as_slice() else {
        panic!("expected one target: {targets:?}");
    };
    assert_eq!(target["Arn"], "ForwardApiDestination.Arn");
    assert_eq!(target["RoleArn"], "ForwardRole.Arn");
    let retry = &target["RetryPolicy"];
    assert!(retry.is_mapping(), "the target has no RetryPolicy");
    assert!((1..=185).contains(&number(&retry["MaximumRetryAttempts"])));
    assert!((60..=86400).contains(&number(&retry["MaximumEventAgeInSeconds"])));
    assert_eq!(
        target["DeadLetterConfig"]["Arn"],
        "ForwardDeadLetterQueue.Arn"
    );

    // Only EventBridge, and only for that rule, may send to the dead-letter queue, which stays
    // on SQS-managed encryption whatever the key (EventBridge sends as itself)
    let policy = deploy.resource("ForwardDeadLetterQueuePolicy").unwrap();
    assert_eq!(
        policy["Queues"],
        Value::Sequence(vec!["ForwardDeadLetterQueue".into()])
    );
    let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let [statement] = statements.as_slice() else {
        panic!("expected one statement: {statements:?}");
    };
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(actions(statement), ["sqs:SendMessage"]);
    assert_eq!(
        resources(statement),
        BTreeSet::from(["ForwardDeadLetterQueue.Arn".to_owned()])
    );
    assert_eq!(
        statement["Condition"]["ArnEquals"]["aws:SourceArn"],
        "ForwardRule.Arn"
    );
    let queue = deploy.resource("ForwardDeadLetterQueue").unwrap();
    assert!(queue["SqsManagedSseEnabled"] == true);
    assert!(queue["KmsMasterKeyId"].is_null());

    // EventBridge alone may assume the forwarding role, for this account
    let role = deploy.resource("ForwardRole").unwrap();
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
}

#[test]
fn forwarding_authenticates_with_the_given_header_or_a_fixed_one() {
    let template = template();
    let parameters = &template["Parameters"];
    let api_key = |overrides: &[(&str, &str)]| {
        let mut all = vec![("ForwardUrl", FORWARD_URL)];
        all.extend_from_slice(overrides);
        let deploy = Deploy::new(&template, &all);
        let connection = deploy.resource("ForwardConnection").unwrap();
        assert_eq!(connection["AuthorizationType"], "API_KEY");
        let key = &connection["AuthParameters"]["ApiKeyAuthParameters"];
        (
            key["ApiKeyName"].as_str().unwrap().to_owned(),
            key["ApiKeyValue"].as_str().unwrap().to_owned(),
        )
    };
    let header = |name: &str, value: &str| (name.to_owned(), value.to_owned());

    // The value is a secret
    assert!(parameters["ForwardAuthHeaderValue"]["NoEcho"] == true);
    assert!(parameters["ForwardAuthHeaderName"]["NoEcho"].is_null());

    // Given a header, the connection sends it
    assert_eq!(
        api_key(&[
            ("ForwardAuthHeaderName", "Authorization"),
            ("ForwardAuthHeaderValue", "Bearer t0ken"),
        ]),
        header("Authorization", "Bearer t0ken")
    );
    // Given none (or a value alone, as a guided deploy's hidden prompt needs one), a harmless
    // fixed header, which the name's description announces
    for value in ["", "unused"] {
        assert_eq!(
            api_key(&[("ForwardAuthHeaderValue", value)]),
            header("X-Event-Source", STACK),
            "{value:?}"
        );
    }
    assert!(
        parameters["ForwardAuthHeaderName"]["Description"]
            .as_str()
            .unwrap()
            .contains("X-Event-Source")
    );

    // A name without a value is refused before anything is created
    assert!(!rules_admit(&Deploy::new(
        &template,
        &[
            ("ForwardUrl", FORWARD_URL),
            ("ForwardAuthHeaderName", "Authorization"),
        ],
    )));
    assert!(rules_admit(&Deploy::new(
        &template,
        &[
            ("ForwardUrl", FORWARD_URL),
            ("ForwardAuthHeaderValue", "unused")
        ],
    )));
}

#[test]
fn forwarding_failures_raise_alarms() {
    let template = template();
    let on = Deploy::new(&template, &[("ForwardUrl", FORWARD_URL)]);
    let alarms = deployed_alarms(&on);
    let alarm_on = |metric: &MetricRef| {
        let found: Vec<&Alarm> = alarms
            .iter()
            .filter(|a| a.watched() == BTreeSet::from([metric]))
            .collect();
        let [alarm] = found.as_slice() else {
            panic!("expected one alarm on {metric:?}, found {found:?}");
        };
        *alarm
    };

    // Undelivered events in the forwarding dead-letter queue: as for the events' one
    let dlq = alarm_on(&MetricRef::aws(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        ("QueueName", "ForwardDeadLetterQueue.QueueName"),
    ));
    assert_eq!(number(&dlq.properties["Threshold"]), 0);
    assert_eq!(dlq.properties["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(dlq.properties["TreatMissingData"], "notBreaching");

    // Events that reached neither the endpoint nor the dead-letter queue: the first one
    alarm_on(&forwarding_metric(&on, "InvocationsFailedToBeSentToDlq"))
        .assert_fires_on_the_first_in_five_minutes();

    // An endpoint that keeps failing, long before its events give up
    let retrying = alarm_on(&forwarding_metric(&on, "RetryInvocationAttempts"));
    assert_eq!(
        retrying.properties["ComparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    assert_eq!(number(&retrying.properties["Threshold"]), 1);
    assert_eq!(retrying.properties["TreatMissingData"], "notBreaching");

    // None of them without forwarding
    let off: Vec<String> = deployed_alarms(&Deploy::new(&template, &[]))
        .into_iter()
        .map(|a| a.name)
        .collect();
    for alarm in [&dlq.name, &retrying.name] {
        assert!(!off.contains(alarm), "{alarm}");
    }
}

#[test]
fn unpublished_business_events_raise_an_alarm() {
    let template = template();
    let deploy = Deploy::new(&template, &[]);
    let metric = MetricRef::of_function("publish_failed", "consumer");

    let alarms = deployed_alarms(&deploy);
    let found: Vec<&Alarm> = alarms
        .iter()
        .filter(|a| a.watched() == BTreeSet::from([&metric]))
        .collect();

    let [alarm] = found.as_slice() else {
        panic!("expected one alarm on {metric:?}, found {found:?}");
    };
    alarm.assert_fires_on_the_first_in_five_minutes();
}

#[test]
fn dashboard_shows_the_forwarding_rule() {
    let template = template();
    let deploy = Deploy::new(&template, &[("ForwardUrl", FORWARD_URL)]);

    let shown = dashboard_metrics(&deploy);

    for name in [
        "Invocations",
        "RetryInvocationAttempts",
        "FailedInvocations",
        "InvocationsSentToDlq",
        "InvocationsFailedToBeSentToDlq",
    ] {
        let metric = forwarding_metric(&deploy, name);
        assert!(shown.contains(&metric), "the dashboard lacks {metric:?}");
    }
}

#[test]
fn business_event_outputs_name_the_bus_and_the_archive() {
    let template = template();
    let outputs = &template["Outputs"];

    assert_eq!(
        ref_target(&outputs["BusinessEventBusName"]["Value"]),
        Some("BusinessEventBus")
    );
    assert_eq!(
        get_att(&outputs["BusinessEventBusArn"]["Value"]),
        Some("BusinessEventBus.Arn")
    );
    assert_eq!(
        get_att(&outputs["BusinessEventArchiveArn"]["Value"]),
        Some("BusinessEventArchive.Arn")
    );
    let dlq = &outputs["ForwardDeadLetterQueueUrl"];
    assert_eq!(ref_target(&dlq["Value"]), Some("ForwardDeadLetterQueue"));
    assert_eq!(dlq["Condition"], "HasForwardUrl");
    for (name, output) in outputs.as_mapping().unwrap() {
        assert!(
            output["Description"].is_string(),
            "{name:?} has no Description"
        );
    }
}
