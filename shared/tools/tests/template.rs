//! The SAM template against the local stack: deployed resources must carry the settings that
//! `provision` gives local ones, and each function every variable its configuration reads.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_norway::Value;
use webhook_core::config::{self, ConsumerConfig, IngressConfig};
use webhook_tools::provision::{self, TableSpec};

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

fn env_vars<'t>(template: &'t Value, function: &str) -> BTreeMap<&'t str, &'t Value> {
    properties(template, function)["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{function} has no environment variables"))
        .iter()
        .map(|(name, value)| (name.as_str().unwrap(), value))
        .collect()
}

/// A table's key schema as the template declares it.
#[derive(Debug)]
struct DeclaredTable {
    partition_key: String,
    sort_key: Option<String>,
    ttl_attribute: String,
    string_keys: bool,
}

impl PartialEq<TableSpec> for DeclaredTable {
    fn eq(&self, spec: &TableSpec) -> bool {
        self.string_keys
            && self.partition_key == spec.partition_key
            && self.sort_key.as_deref() == spec.sort_key
            && self.ttl_attribute == spec.ttl_attribute
    }
}

fn declared_table(template: &Value, resource: &str) -> DeclaredTable {
    let table = properties(template, resource);
    let key = |key_type: &str| {
        table["KeySchema"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|k| k["KeyType"] == key_type)
            .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
    };
    let string_keys = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .all(|d| d["AttributeType"] == "S");
    DeclaredTable {
        partition_key: key("HASH").unwrap(),
        sort_key: key("RANGE"),
        ttl_attribute: table["TimeToLiveSpecification"]["AttributeName"]
            .as_str()
            .unwrap()
            .to_owned(),
        string_keys,
    }
}

/// The environment a function would get at deploy: literals as written, parameters at their
/// defaults, secrets and optional settings (no default, or an empty one) as `local.env` sets them,
/// and resources by logical id.
fn deployed_env(template: &Value, function: &str) -> BTreeMap<String, String> {
    let local_env = repo_file("local.env");
    let local: BTreeMap<&str, &str> = local_env
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    env_vars(template, function)
        .into_iter()
        .map(|(name, value)| {
            let resolved = match (ref_target(value), value) {
                (Some(target), _) => match &template["Parameters"][target]["Default"] {
                    Value::String(default) if default.is_empty() => {
                        local.get(name).map(|v| (*v).to_owned()).unwrap_or_default()
                    }
                    Value::String(default) => default.clone(),
                    Value::Number(default) => default.to_string(),
                    _ if template["Resources"][target].is_mapping() => target.to_owned(),
                    _ => local.get(name).map(|v| (*v).to_owned()).unwrap_or_else(|| {
                        panic!("{name} refers to {target}, which has no default or local value")
                    }),
                },
                (None, Value::String(literal)) => literal.clone(),
                (None, Value::Number(literal)) => literal.to_string(),
                (None, other) => panic!("{name} is neither a literal nor a Ref: {other:?}"),
            };
            (name.to_owned(), resolved)
        })
        .collect()
}

/// The value of a rule function's argument: a parameter's (`!Ref`) or a literal.
fn rule_value(value: &Value, parameters: &BTreeMap<&str, &str>) -> String {
    match (ref_target(value), value) {
        (Some(name), _) => parameters
            .get(name)
            .unwrap_or_else(|| panic!("the rules refer to {name}, which this test does not set"))
            .to_string(),
        (None, Value::String(literal)) => literal.clone(),
        (None, other) => panic!("unexpected rule argument {other:?}"),
    }
}

/// Whether a CloudFormation rule condition holds for these parameter values. It knows the rule
/// functions the template uses, in their short forms (`!Or`, `!And`, `!Not`, `!Equals`).
fn holds(condition: &Value, parameters: &BTreeMap<&str, &str>) -> bool {
    let Value::Tagged(tagged) = condition else {
        panic!("{condition:?} is not a rule function");
    };
    let args = tagged
        .value
        .as_sequence()
        .unwrap_or_else(|| panic!("{condition:?} takes a list"));
    if tagged.tag == "Or" {
        args.iter().any(|arg| holds(arg, parameters))
    } else if tagged.tag == "And" {
        args.iter().all(|arg| holds(arg, parameters))
    } else if tagged.tag == "Not" {
        let [arg] = args.as_slice() else {
            panic!("!Not takes one condition: {condition:?}");
        };
        !holds(arg, parameters)
    } else if tagged.tag == "Equals" {
        let [a, b] = args.as_slice() else {
            panic!("!Equals takes two values: {condition:?}");
        };
        rule_value(a, parameters) == rule_value(b, parameters)
    } else {
        panic!("rule function {} is not known to this test", tagged.tag);
    }
}

/// Whether the template's `Rules` let a stack with these parameter values be deployed.
fn rules_admit(template: &Value, parameters: &BTreeMap<&str, &str>) -> bool {
    template["Rules"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|rule| {
            let condition = &rule["RuleCondition"];
            condition.is_null() || holds(condition, parameters)
        })
        .flat_map(|rule| rule["Assertions"].as_sequence().unwrap())
        .all(|assertion| holds(&assertion["Assert"], parameters))
}

fn alarms(template: &Value) -> impl Iterator<Item = (&str, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(name, resource)| (name.as_str().unwrap(), &resource["Properties"]))
}

#[test]
fn events_table_keys_match_local_stack() {
    // Given the template
    let template = template();

    // When its events table is read
    let table = declared_table(&template, "EventsTable");

    // Then it has the local table's keys and TTL attribute
    assert_eq!(table, provision::EVENTS_TABLE);
}

#[test]
fn items_table_keys_match_local_stack() {
    let template = template();

    let table = declared_table(&template, "ItemsTable");

    assert_eq!(table, provision::ITEMS_TABLE);
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
fn ingress_gets_every_variable_its_config_reads() {
    let template = template();

    let vars = env_vars(&template, "IngressFunction");
    let config = IngressConfig::from_env(&deployed_env(&template, "IngressFunction")).unwrap();

    for name in [
        "EVENTS_TABLE",
        "QUEUE_URL",
        "WEBHOOK_SOURCES",
        "SOURCE_LEGITMARK_SECRETS",
        "SOURCE_CR3DENTIALS_SECRETS",
        "SOURCE_CR3DENTIALS_AUTH_HEADER_NAME",
        "SOURCE_CR3DENTIALS_AUTH_HEADER_VALUE",
        "MAX_BODY_BYTES",
        "RETENTION_DAYS",
    ] {
        assert!(vars.contains_key(name), "ingress lacks {name}");
    }
    assert_eq!(ref_target(vars["EVENTS_TABLE"]), Some("EventsTable"));
    assert_eq!(ref_target(vars["QUEUE_URL"]), Some("EventsQueue"));
    for source in &config.sources {
        let secrets = format!("{}SECRETS", config::source_prefix(&source.name));
        assert!(
            vars.contains_key(secrets.as_str()),
            "ingress lacks {secrets}"
        );
    }
    assert_eq!(config.max_body_bytes, config::DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.retention_days, config::DEFAULT_RETENTION_DAYS);
}

#[test]
fn consumer_gets_every_variable_its_config_reads() {
    let template = template();

    let vars = env_vars(&template, "ConsumerFunction");
    let config = ConsumerConfig::from_env(&deployed_env(&template, "ConsumerFunction")).unwrap();

    assert_eq!(config.events_table, "EventsTable");
    assert_eq!(config.items_table, "ItemsTable");
    assert_eq!(ref_target(vars["EVENTS_TABLE"]), Some("EventsTable"));
    assert_eq!(ref_target(vars["ITEMS_TABLE"]), Some("ItemsTable"));
}

#[test]
fn secrets_come_only_from_no_echo_parameters() {
    let template = template();
    let parameters = template["Parameters"].as_mapping().unwrap();
    let no_echo = |name: &str| template["Parameters"][name]["NoEcho"] == true;

    let secret_vars: BTreeMap<&str, &Value> = ["IngressFunction", "ConsumerFunction"]
        .into_iter()
        .flat_map(|function| env_vars(&template, function))
        .filter(|(name, _)| name.ends_with("_SECRETS") || name.ends_with("_AUTH_HEADER_VALUE"))
        .collect();
    let secret_parameters: BTreeSet<&str> = parameters
        .keys()
        .filter_map(Value::as_str)
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            lower.contains("secret") || lower.contains("headervalue")
        })
        .collect();

    assert!(!secret_vars.is_empty());
    for (name, value) in secret_vars {
        let parameter = ref_target(value)
            .unwrap_or_else(|| panic!("{name} must come from a parameter, not a literal"));
        assert!(no_echo(parameter), "{parameter} (for {name}) lacks NoEcho");
    }
    for parameter in secret_parameters {
        assert!(no_echo(parameter), "{parameter} lacks NoEcho");
    }
}

#[test]
fn roles_grant_nothing_on_every_resource() {
    let template = template();

    let statements: Vec<&Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::IAM::Role")
        .flat_map(|r| r["Properties"]["Policies"].as_sequence().unwrap())
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .collect();

    assert!(!statements.is_empty());
    for statement in statements {
        let resource = &statement["Resource"];
        assert!(
            resource != "*" && get_att(resource).is_some(),
            "{statement:?} is not scoped to one resource of the stack"
        );
    }
}

#[test]
fn rules_admit_exactly_the_cr3dentials_settings_the_ingress_starts_with() {
    const SECRET: &str = "Cr3dentialsSigningSecret";
    const HEADER_NAME: &str = "Cr3dentialsAuthHeaderName";
    const HEADER_VALUE: &str = "Cr3dentialsAuthHeaderValue";
    let template = template();
    let vars = env_vars(&template, "IngressFunction");

    for rule in template["Rules"].as_mapping().unwrap().values() {
        for assertion in rule["Assertions"].as_sequence().unwrap() {
            let description = assertion["AssertDescription"].as_str().unwrap_or_default();
            assert!(
                !description.is_empty(),
                "{assertion:?} has no AssertDescription"
            );
        }
    }
    for secret in ["", "cr3d-test-secret"] {
        for header_name in ["", "X-API-Key"] {
            for header_value in ["", "your-secure-secret-key-here"] {
                // given Cr3dentials parameters: a secret, a header, both, neither, or half a header
                let parameters = BTreeMap::from([
                    (SECRET, secret),
                    (HEADER_NAME, header_name),
                    (HEADER_VALUE, header_value),
                ]);
                let mut env = deployed_env(&template, "IngressFunction");
                for (var, value) in &vars {
                    if let Some(parameter) = ref_target(value).and_then(|t| parameters.get(t)) {
                        env.insert((*var).to_owned(), (*parameter).to_owned());
                    }
                }

                // when CloudFormation checks the rules, and the ingress reads its configuration
                let admitted = rules_admit(&template, &parameters);
                let starts = IngressConfig::from_env(&env);

                // then the rules refuse exactly what the ingress would refuse to start with
                assert_eq!(
                    admitted,
                    starts.is_ok(),
                    "secret {secret:?}, header {header_name:?}: {header_value:?} -> {starts:?}"
                );
            }
        }
    }
    assert!(
        !rules_admit(
            &template,
            &BTreeMap::from([(SECRET, ""), (HEADER_NAME, ""), (HEADER_VALUE, "")])
        ),
        "a stack with no Cr3dentials authentication must be refused"
    );
}

#[test]
fn quarantines_raise_an_alarm_for_each_function() {
    let template = template();

    for function in ["ingress", "consumer"] {
        // given the functions' EMF counter of quarantines
        let watches = |alarm: &Value| {
            let dimensions = alarm["Dimensions"].as_sequence().map(Vec::as_slice);
            alarm["Namespace"] == webhook_core::metrics::NAMESPACE
                && alarm["MetricName"] == "quarantined"
                && matches!(dimensions,
                    Some([d]) if d["Name"] == "Function" && d["Value"] == function)
        };

        // when the template's alarms are read
        let found: Vec<(&str, &Value)> = alarms(&template)
            .filter(|(_, alarm)| watches(alarm))
            .collect();

        // then exactly one of them fires on the first quarantine within five minutes
        let [(name, alarm)] = found.as_slice() else {
            panic!("expected one alarm on {function}'s quarantined metric, found {found:?}");
        };
        assert_eq!(alarm["Statistic"], "Sum", "{name}");
        assert_eq!(number(&alarm["Period"]), 300, "{name}");
        assert_eq!(number(&alarm["EvaluationPeriods"]), 1, "{name}");
        assert_eq!(number(&alarm["Threshold"]), 1, "{name}");
        assert_eq!(
            alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{name}"
        );
        assert_eq!(alarm["TreatMissingData"], "notBreaching", "{name}");
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let template = template();

    // `!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]`
    let is_topic =
        |topics: &[Value]| matches!(topics, [topic] if ref_target(topic) == Some("AlarmTopicArn"));
    let routed = |actions: &Value| match actions {
        Value::Tagged(tagged) if tagged.tag == "If" => {
            match tagged.value.as_sequence().map(Vec::as_slice) {
                Some([condition, Value::Sequence(topics), otherwise]) => {
                    condition == "HasAlarmTopic"
                        && is_topic(topics)
                        && ref_target(otherwise) == Some("AWS::NoValue")
                }
                _ => false,
            }
        }
        _ => false,
    };

    let alarms: Vec<(&str, &Value)> = alarms(&template).collect();
    assert!(!alarms.is_empty());
    for (name, alarm) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            assert!(
                routed(&alarm[actions]),
                "{name}'s {actions} do not go to AlarmTopicArn"
            );
        }
    }
}
