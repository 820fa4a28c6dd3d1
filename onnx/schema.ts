import * as protobuf from 'protobufjs';

/**
 * The part of the ONNX protobuf schema cbp writes and reads, transcribed here for protobufjs. Field numbers are
 * those of onnx/onnx.proto (IR version 13); fields cbp never uses are left out, which protobuf tolerates both ways.
 */
const PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; }
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  string doc_string = 13;
  AttributeType type = 20;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  string domain = 7;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int32 int32_data = 5;
  repeated int64 int64_data = 7;
  string name = 8;
  bytes raw_data = 9;
  string doc_string = 12;
  repeated StringStringEntryProto external_data = 13;
  int32 data_location = 14;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
`;

const root = protobuf.parse(PROTO, {keepCase: true}).root;
export const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values cbp uses. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  UINT4: 21,
  INT4: 22,
  UINT2: 25,
  INT2: 26,
} as const;

export const AttributeType = {FLOAT: 1, INT: 2, STRING: 3, INTS: 7} as const;

// Plain-object shapes of the messages as cbp builds and reads them (protobufjs fromObject/toObject).
export interface TensorMsg {
  name: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  doc_string?: string;
}

export interface AttributeMsg {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
  floats?: number[];
  s?: Uint8Array;
  /** A tensor attribute (a Constant's value); null when absent in a decoded file. */
  t?: TensorMsg | null;
  /** A subgraph (If, Loop); null when absent in a decoded file. */
  g?: object | null;
}

export interface NodeMsg {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: AttributeMsg[];
  domain?: string;
}

/** A node's attribute by name, or undefined. */
export function attributeOf(node: NodeMsg, name: string): AttributeMsg | undefined {
  return node.attribute.find((a) => a.name === name);
}

export interface ValueInfoMsg {
  name: string;
  type: {tensor_type: {elem_type: number; shape: {dim: ({dim_value: number} | {dim_param: string})[]}}};
}

export interface GraphMsg {
  name: string;
  node: NodeMsg[];
  initializer: TensorMsg[];
  input: ValueInfoMsg[];
  output: ValueInfoMsg[];
}

export interface ModelMsg {
  ir_version: number;
  opset_import: {domain: string; version: number}[];
  producer_name: string;
  producer_version: string;
  graph: GraphMsg;
  metadata_props: {key: string; value: string}[];
  doc_string?: string;
}
