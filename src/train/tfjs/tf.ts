/**
 * The one place that loads TensorFlow.js: the core, its gradients, and the two backends that always install.
 * Every other file imports tf from here so gradients are registered before any tape is run.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; the union package's bundle registers them in the shared registry.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

// PROD silences tfjs's console advice (we print our own backend line) and skips per-op debug checks.
tf.env().set('PROD', true);

export {tf};
