//! Tree ensembles through the `onnx` runtime: a `TreeEnsembleRegressor` and a
//! `TreeEnsembleClassifier` of 100 complete trees of depth 8 (255 branches and 256 leaves
//! each, so every row walks 8 levels of every tree) over 30 float features — the size
//! issue 13 sets targets for (one row well under 50 µs, ≥ 200 000 rows/s per core).
//!
//! `cargo bench -p capstan-client --features onnx --bench trees`

use std::hint::black_box;

use capstan_client::runtime::ndarray::Array2;
use capstan_client::runtime::train::SplitMix64;
use capstan_client::runtime::{self, Predictor, Rows, ONNX};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

const TREES: usize = 100;
const DEPTH: u32 = 8;
const FEATURES: usize = 30;

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values,
        ..Default::default()
    }
}

fn floats(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Floats as i32,
        floats: values,
        ..Default::default()
    }
}

fn strings(name: &str, values: Vec<&str>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: values.into_iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

fn matrix(name: &str, width: Option<i64>) -> ValueInfoProto {
    let dims = [None, width].map(|value| Dimension {
        value: value.map(dimension::Value::DimValue),
        ..Default::default()
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(TensorType {
                elem_type: OnnxType::Float as i32,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// 100 complete trees of depth 8 with random features and thresholds, as ONNX bytes:
/// a regressor, or a two-class classifier whose leaves vote for both classes.
fn ensemble(classifier: bool) -> Vec<u8> {
    let mut rng = SplitMix64::new(13);
    let uniform = |rng: &mut SplitMix64| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let nodes_per_tree = (1i64 << (DEPTH + 1)) - 1;
    let first_leaf = (1i64 << DEPTH) - 1;
    let (mut tree_ids, mut node_ids, mut features, mut modes) = (vec![], vec![], vec![], vec![]);
    let (mut values, mut trues, mut falses) = (vec![], vec![], vec![]);
    let (mut vote_trees, mut vote_nodes, mut vote_ids, mut weights) =
        (vec![], vec![], vec![], vec![]);
    for tree in 0..TREES as i64 {
        for node in 0..nodes_per_tree {
            tree_ids.push(tree);
            node_ids.push(node);
            if node < first_leaf {
                features.push(rng.below(FEATURES) as i64);
                modes.push("BRANCH_LEQ");
                values.push((uniform(&mut rng) * 2.0 - 1.0) as f32);
                trues.push(2 * node + 1);
                falses.push(2 * node + 2);
            } else {
                features.push(0);
                modes.push("LEAF");
                values.push(0.0);
                trues.push(0);
                falses.push(0);
                let p = uniform(&mut rng);
                let votes: &[(i64, f64)] = if classifier {
                    &[(0, 1.0 - p), (1, p)]
                } else {
                    &[(0, p * 10.0 - 5.0)]
                };
                for (id, weight) in votes {
                    vote_trees.push(tree);
                    vote_nodes.push(node);
                    vote_ids.push(*id);
                    weights.push((*weight / TREES as f64) as f32);
                }
            }
        }
    }
    let prefix = if classifier { "class" } else { "target" };
    let mut attribute = vec![
        ints("nodes_treeids", tree_ids),
        ints("nodes_nodeids", node_ids),
        ints("nodes_featureids", features),
        strings("nodes_modes", modes),
        floats("nodes_values", values),
        ints("nodes_truenodeids", trues),
        ints("nodes_falsenodeids", falses),
        ints(&format!("{prefix}_treeids"), vote_trees),
        ints(&format!("{prefix}_nodeids"), vote_nodes),
        ints(&format!("{prefix}_ids"), vote_ids),
        floats(&format!("{prefix}_weights"), weights),
    ];
    let (op, outputs) = if classifier {
        attribute.push(ints("classlabels_int64s", vec![0, 1]));
        (
            "TreeEnsembleClassifier",
            vec!["label".to_string(), "scores".to_string()],
        )
    } else {
        attribute.push(ints("n_targets", vec![1]));
        attribute.push(strings("aggregate_function", vec!["SUM"]));
        ("TreeEnsembleRegressor", vec!["variable".to_string()])
    };
    let graph_outputs = if classifier {
        let mut label = matrix("label", None);
        if let Some(Value::TensorType(t)) = label.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.elem_type = OnnxType::Int64 as i32;
            if let Some(shape) = t.shape.as_mut() {
                shape.dim.truncate(1);
            }
        }
        vec![label, matrix("scores", Some(2))]
    } else {
        vec![matrix("variable", Some(1))]
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
        ],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                op_type: op.into(),
                domain: "ai.onnx.ml".into(),
                input: vec!["input".into()],
                output: outputs,
                attribute,
                ..Default::default()
            }],
            input: vec![matrix("input", Some(FEATURES as i64))],
            output: graph_outputs,
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

fn rows(count: usize) -> Array2<f64> {
    let mut rng = SplitMix64::new(5);
    Array2::from_shape_fn((count, FEATURES), |_| {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    })
}

fn predict(c: &mut Criterion) {
    let models: Vec<(&str, std::sync::Arc<dyn Predictor>)> =
        [("regressor", false), ("classifier", true)]
            .into_iter()
            .map(|(name, classifier)| {
                let predictor =
                    runtime::load(ONNX, &ensemble(classifier), None).expect("trees load");
                (name, predictor)
            })
            .collect();
    let mut group = c.benchmark_group("trees-100x8");
    for count in [1usize, 10_000] {
        let batch = rows(count);
        group.throughput(Throughput::Elements(count as u64));
        for (name, predictor) in &models {
            group.bench_with_input(BenchmarkId::new(*name, count), &batch, |b, batch| {
                b.iter(|| {
                    predictor
                        .predict(black_box(&Rows::numeric(batch.view())))
                        .expect("prediction")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, predict);
criterion_main!(benches);
