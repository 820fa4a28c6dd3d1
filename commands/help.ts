import {Args, loadHelpClass} from '@oclif/core';
import {CbpError} from '../src/index';
import {CbpCommand} from './base';
import {nearest} from './suggest';

/** `cbp help train`, as git and npm take it: the help `cbp train --help` prints; `cbp help` alone, the list of commands. */
export default class Help extends CbpCommand {
  static override summary = 'Show the help of a command (cbp help train), or the list of commands.';
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help train'];
  static override args = {command: Args.string({description: 'the command to show the help of'})};
  // A command's name may have words (topics) after it; they all go to oclif's help.
  static override strict = false;

  async run(): Promise<void> {
    const {argv} = await this.parse(Help);
    const words = argv.map(String);
    const ids = this.config.commandIDs;
    const id = words.join(':');
    if (words.length > 0 && !ids.includes(id)) {
      const near = nearest(id, ids);
      throw new CbpError(`cbp help ${words.join(' ')}: no such command${near !== undefined ? `; did you mean ${near}?` : ''} (the commands: ${ids.join(', ')})`, 'UNKNOWN_CHOICE');
    }
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config).showHelp(words);
  }
}
