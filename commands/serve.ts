import {Args} from '@oclif/core';
import {SERVE_OPTIONS, serve} from '../src/index';
import {flagsOf, optionsOf} from './flags';
import {CbpCommand} from './base';

export default class Serve extends CbpCommand {
  static override summary = 'A local, read-only web page over a folder of runs and models: live training curves, weight histograms, model cards, and a model tried in the browser.';
  static override description =
    'Lists every run (a folder with state.json) and every .onnx file below RUNS_DIR. A run shows its config, status ' +
    '(running, finished or stopped), curves that follow cbp train as it writes each epoch, latent-weight histograms ' +
    'against the levels and cbp info. A model shows its metadata, its layers, and runs in the page on ' +
    'onnxruntime-web (wasm, served from node_modules, nothing from the internet) on a dropped image or, for 28×28 grey ' +
    'models, a digit drawn with the mouse. Nothing outside RUNS_DIR is read (.., absolute paths and symlinks out are ' +
    'refused) and nothing is written. Prints the URL; Ctrl-C stops it.';
  static override examples = ['<%= config.bin %> serve runs', '<%= config.bin %> serve . --port 0', '<%= config.bin %> serve runs --host 0.0.0.0 --port 8080'];
  static override args = {dir: Args.string({description: 'folder of runs and .onnx models (RUNS_DIR)', default: 'runs'})};
  static override flags = flagsOf(SERVE_OPTIONS);

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Serve);
    const served = await serve({dir: args.dir, ...optionsOf(SERVE_OPTIONS, flags), log: (l) => this.note(l)});
    this.log(served.url);
    if (served.ortDir === null) this.note('onnxruntime-web is not installed, so models cannot be tried in the page (npm install onnxruntime-web@1.30.0)');
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        served.close().then(resolve, resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  }
}
