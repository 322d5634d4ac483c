#!/usr/bin/env node
/******/ (() => { // webpackBootstrap
/******/ 	"use strict";
/******/ 	var __webpack_modules__ = ({

/***/ 5236:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    Object.defineProperty(o, k2, { enumerable: true, get: function() { return m[k]; } });
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || function (mod) {
    if (mod && mod.__esModule) return mod;
    var result = {};
    if (mod != null) for (var k in mod) if (k !== "default" && Object.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
    __setModuleDefault(result, mod);
    return result;
};
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.getExecOutput = exports.exec = void 0;
const string_decoder_1 = __nccwpck_require__(3193);
const tr = __importStar(__nccwpck_require__(6665));
/**
 * Exec a command.
 * Output will be streamed to the live console.
 * Returns promise with return code
 *
 * @param     commandLine        command to execute (can include additional args). Must be correctly escaped.
 * @param     args               optional arguments for tool. Escaping is handled by the lib.
 * @param     options            optional exec options.  See ExecOptions
 * @returns   Promise<number>    exit code
 */
function exec(commandLine, args, options) {
    return __awaiter(this, void 0, void 0, function* () {
        const commandArgs = tr.argStringToArray(commandLine);
        if (commandArgs.length === 0) {
            throw new Error(`Parameter 'commandLine' cannot be null or empty.`);
        }
        // Path to tool to execute should be first arg
        const toolPath = commandArgs[0];
        args = commandArgs.slice(1).concat(args || []);
        const runner = new tr.ToolRunner(toolPath, args, options);
        return runner.exec();
    });
}
exports.exec = exec;
/**
 * Exec a command and get the output.
 * Output will be streamed to the live console.
 * Returns promise with the exit code and collected stdout and stderr
 *
 * @param     commandLine           command to execute (can include additional args). Must be correctly escaped.
 * @param     args                  optional arguments for tool. Escaping is handled by the lib.
 * @param     options               optional exec options.  See ExecOptions
 * @returns   Promise<ExecOutput>   exit code, stdout, and stderr
 */
function getExecOutput(commandLine, args, options) {
    var _a, _b;
    return __awaiter(this, void 0, void 0, function* () {
        let stdout = '';
        let stderr = '';
        //Using string decoder covers the case where a mult-byte character is split
        const stdoutDecoder = new string_decoder_1.StringDecoder('utf8');
        const stderrDecoder = new string_decoder_1.StringDecoder('utf8');
        const originalStdoutListener = (_a = options === null || options === void 0 ? void 0 : options.listeners) === null || _a === void 0 ? void 0 : _a.stdout;
        const originalStdErrListener = (_b = options === null || options === void 0 ? void 0 : options.listeners) === null || _b === void 0 ? void 0 : _b.stderr;
        const stdErrListener = (data) => {
            stderr += stderrDecoder.write(data);
            if (originalStdErrListener) {
                originalStdErrListener(data);
            }
        };
        const stdOutListener = (data) => {
            stdout += stdoutDecoder.write(data);
            if (originalStdoutListener) {
                originalStdoutListener(data);
            }
        };
        const listeners = Object.assign(Object.assign({}, options === null || options === void 0 ? void 0 : options.listeners), { stdout: stdOutListener, stderr: stdErrListener });
        const exitCode = yield exec(commandLine, args, Object.assign(Object.assign({}, options), { listeners }));
        //flush any remaining characters
        stdout += stdoutDecoder.end();
        stderr += stderrDecoder.end();
        return {
            exitCode,
            stdout,
            stderr
        };
    });
}
exports.getExecOutput = getExecOutput;
//# sourceMappingURL=exec.js.map

/***/ }),

/***/ 6665:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    Object.defineProperty(o, k2, { enumerable: true, get: function() { return m[k]; } });
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || function (mod) {
    if (mod && mod.__esModule) return mod;
    var result = {};
    if (mod != null) for (var k in mod) if (k !== "default" && Object.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
    __setModuleDefault(result, mod);
    return result;
};
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.argStringToArray = exports.ToolRunner = void 0;
const os = __importStar(__nccwpck_require__(857));
const events = __importStar(__nccwpck_require__(4434));
const child = __importStar(__nccwpck_require__(5317));
const path = __importStar(__nccwpck_require__(6928));
const io = __importStar(__nccwpck_require__(4994));
const ioUtil = __importStar(__nccwpck_require__(5207));
const timers_1 = __nccwpck_require__(3557);
/* eslint-disable @typescript-eslint/unbound-method */
const IS_WINDOWS = process.platform === 'win32';
/*
 * Class for running command line tools. Handles quoting and arg parsing in a platform agnostic way.
 */
class ToolRunner extends events.EventEmitter {
    constructor(toolPath, args, options) {
        super();
        if (!toolPath) {
            throw new Error("Parameter 'toolPath' cannot be null or empty.");
        }
        this.toolPath = toolPath;
        this.args = args || [];
        this.options = options || {};
    }
    _debug(message) {
        if (this.options.listeners && this.options.listeners.debug) {
            this.options.listeners.debug(message);
        }
    }
    _getCommandString(options, noPrefix) {
        const toolPath = this._getSpawnFileName();
        const args = this._getSpawnArgs(options);
        let cmd = noPrefix ? '' : '[command]'; // omit prefix when piped to a second tool
        if (IS_WINDOWS) {
            // Windows + cmd file
            if (this._isCmdFile()) {
                cmd += toolPath;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows + verbatim
            else if (options.windowsVerbatimArguments) {
                cmd += `"${toolPath}"`;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows (regular)
            else {
                cmd += this._windowsQuoteCmdArg(toolPath);
                for (const a of args) {
                    cmd += ` ${this._windowsQuoteCmdArg(a)}`;
                }
            }
        }
        else {
            // OSX/Linux - this can likely be improved with some form of quoting.
            // creating processes on Unix is fundamentally different than Windows.
            // on Unix, execvp() takes an arg array.
            cmd += toolPath;
            for (const a of args) {
                cmd += ` ${a}`;
            }
        }
        return cmd;
    }
    _processLineBuffer(data, strBuffer, onLine) {
        try {
            let s = strBuffer + data.toString();
            let n = s.indexOf(os.EOL);
            while (n > -1) {
                const line = s.substring(0, n);
                onLine(line);
                // the rest of the string ...
                s = s.substring(n + os.EOL.length);
                n = s.indexOf(os.EOL);
            }
            return s;
        }
        catch (err) {
            // streaming lines to console is best effort.  Don't fail a build.
            this._debug(`error processing line. Failed with error ${err}`);
            return '';
        }
    }
    _getSpawnFileName() {
        if (IS_WINDOWS) {
            if (this._isCmdFile()) {
                return process.env['COMSPEC'] || 'cmd.exe';
            }
        }
        return this.toolPath;
    }
    _getSpawnArgs(options) {
        if (IS_WINDOWS) {
            if (this._isCmdFile()) {
                let argline = `/D /S /C "${this._windowsQuoteCmdArg(this.toolPath)}`;
                for (const a of this.args) {
                    argline += ' ';
                    argline += options.windowsVerbatimArguments
                        ? a
                        : this._windowsQuoteCmdArg(a);
                }
                argline += '"';
                return [argline];
            }
        }
        return this.args;
    }
    _endsWith(str, end) {
        return str.endsWith(end);
    }
    _isCmdFile() {
        const upperToolPath = this.toolPath.toUpperCase();
        return (this._endsWith(upperToolPath, '.CMD') ||
            this._endsWith(upperToolPath, '.BAT'));
    }
    _windowsQuoteCmdArg(arg) {
        // for .exe, apply the normal quoting rules that libuv applies
        if (!this._isCmdFile()) {
            return this._uvQuoteCmdArg(arg);
        }
        // otherwise apply quoting rules specific to the cmd.exe command line parser.
        // the libuv rules are generic and are not designed specifically for cmd.exe
        // command line parser.
        //
        // for a detailed description of the cmd.exe command line parser, refer to
        // http://stackoverflow.com/questions/4094699/how-does-the-windows-command-interpreter-cmd-exe-parse-scripts/7970912#7970912
        // need quotes for empty arg
        if (!arg) {
            return '""';
        }
        // determine whether the arg needs to be quoted
        const cmdSpecialChars = [
            ' ',
            '\t',
            '&',
            '(',
            ')',
            '[',
            ']',
            '{',
            '}',
            '^',
            '=',
            ';',
            '!',
            "'",
            '+',
            ',',
            '`',
            '~',
            '|',
            '<',
            '>',
            '"'
        ];
        let needsQuotes = false;
        for (const char of arg) {
            if (cmdSpecialChars.some(x => x === char)) {
                needsQuotes = true;
                break;
            }
        }
        // short-circuit if quotes not needed
        if (!needsQuotes) {
            return arg;
        }
        // the following quoting rules are very similar to the rules that by libuv applies.
        //
        // 1) wrap the string in quotes
        //
        // 2) double-up quotes - i.e. " => ""
        //
        //    this is different from the libuv quoting rules. libuv replaces " with \", which unfortunately
        //    doesn't work well with a cmd.exe command line.
        //
        //    note, replacing " with "" also works well if the arg is passed to a downstream .NET console app.
        //    for example, the command line:
        //          foo.exe "myarg:""my val"""
        //    is parsed by a .NET console app into an arg array:
        //          [ "myarg:\"my val\"" ]
        //    which is the same end result when applying libuv quoting rules. although the actual
        //    command line from libuv quoting rules would look like:
        //          foo.exe "myarg:\"my val\""
        //
        // 3) double-up slashes that precede a quote,
        //    e.g.  hello \world    => "hello \world"
        //          hello\"world    => "hello\\""world"
        //          hello\\"world   => "hello\\\\""world"
        //          hello world\    => "hello world\\"
        //
        //    technically this is not required for a cmd.exe command line, or the batch argument parser.
        //    the reasons for including this as a .cmd quoting rule are:
        //
        //    a) this is optimized for the scenario where the argument is passed from the .cmd file to an
        //       external program. many programs (e.g. .NET console apps) rely on the slash-doubling rule.
        //
        //    b) it's what we've been doing previously (by deferring to node default behavior) and we
        //       haven't heard any complaints about that aspect.
        //
        // note, a weakness of the quoting rules chosen here, is that % is not escaped. in fact, % cannot be
        // escaped when used on the command line directly - even though within a .cmd file % can be escaped
        // by using %%.
        //
        // the saving grace is, on the command line, %var% is left as-is if var is not defined. this contrasts
        // the line parsing rules within a .cmd file, where if var is not defined it is replaced with nothing.
        //
        // one option that was explored was replacing % with ^% - i.e. %var% => ^%var^%. this hack would
        // often work, since it is unlikely that var^ would exist, and the ^ character is removed when the
        // variable is used. the problem, however, is that ^ is not removed when %* is used to pass the args
        // to an external program.
        //
        // an unexplored potential solution for the % escaping problem, is to create a wrapper .cmd file.
        // % can be escaped within a .cmd file.
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\'; // double the slash
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '"'; // double the quote
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse
            .split('')
            .reverse()
            .join('');
    }
    _uvQuoteCmdArg(arg) {
        // Tool runner wraps child_process.spawn() and needs to apply the same quoting as
        // Node in certain cases where the undocumented spawn option windowsVerbatimArguments
        // is used.
        //
        // Since this function is a port of quote_cmd_arg from Node 4.x (technically, lib UV,
        // see https://github.com/nodejs/node/blob/v4.x/deps/uv/src/win/process.c for details),
        // pasting copyright notice from Node within this function:
        //
        //      Copyright Joyent, Inc. and other Node contributors. All rights reserved.
        //
        //      Permission is hereby granted, free of charge, to any person obtaining a copy
        //      of this software and associated documentation files (the "Software"), to
        //      deal in the Software without restriction, including without limitation the
        //      rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
        //      sell copies of the Software, and to permit persons to whom the Software is
        //      furnished to do so, subject to the following conditions:
        //
        //      The above copyright notice and this permission notice shall be included in
        //      all copies or substantial portions of the Software.
        //
        //      THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
        //      IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
        //      FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
        //      AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
        //      LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
        //      FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
        //      IN THE SOFTWARE.
        if (!arg) {
            // Need double quotation for empty argument
            return '""';
        }
        if (!arg.includes(' ') && !arg.includes('\t') && !arg.includes('"')) {
            // No quotation needed
            return arg;
        }
        if (!arg.includes('"') && !arg.includes('\\')) {
            // No embedded double quotes or backslashes, so I can just wrap
            // quote marks around the whole thing.
            return `"${arg}"`;
        }
        // Expected input/output:
        //   input : hello"world
        //   output: "hello\"world"
        //   input : hello""world
        //   output: "hello\"\"world"
        //   input : hello\world
        //   output: hello\world
        //   input : hello\\world
        //   output: hello\\world
        //   input : hello\"world
        //   output: "hello\\\"world"
        //   input : hello\\"world
        //   output: "hello\\\\\"world"
        //   input : hello world\
        //   output: "hello world\\" - note the comment in libuv actually reads "hello world\"
        //                             but it appears the comment is wrong, it should be "hello world\\"
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\';
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '\\';
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse
            .split('')
            .reverse()
            .join('');
    }
    _cloneExecOptions(options) {
        options = options || {};
        const result = {
            cwd: options.cwd || process.cwd(),
            env: options.env || process.env,
            silent: options.silent || false,
            windowsVerbatimArguments: options.windowsVerbatimArguments || false,
            failOnStdErr: options.failOnStdErr || false,
            ignoreReturnCode: options.ignoreReturnCode || false,
            delay: options.delay || 10000
        };
        result.outStream = options.outStream || process.stdout;
        result.errStream = options.errStream || process.stderr;
        return result;
    }
    _getSpawnOptions(options, toolPath) {
        options = options || {};
        const result = {};
        result.cwd = options.cwd;
        result.env = options.env;
        result['windowsVerbatimArguments'] =
            options.windowsVerbatimArguments || this._isCmdFile();
        if (options.windowsVerbatimArguments) {
            result.argv0 = `"${toolPath}"`;
        }
        return result;
    }
    /**
     * Exec a tool.
     * Output will be streamed to the live console.
     * Returns promise with return code
     *
     * @param     tool     path to tool to exec
     * @param     options  optional exec options.  See ExecOptions
     * @returns   number
     */
    exec() {
        return __awaiter(this, void 0, void 0, function* () {
            // root the tool path if it is unrooted and contains relative pathing
            if (!ioUtil.isRooted(this.toolPath) &&
                (this.toolPath.includes('/') ||
                    (IS_WINDOWS && this.toolPath.includes('\\')))) {
                // prefer options.cwd if it is specified, however options.cwd may also need to be rooted
                this.toolPath = path.resolve(process.cwd(), this.options.cwd || process.cwd(), this.toolPath);
            }
            // if the tool is only a file name, then resolve it from the PATH
            // otherwise verify it exists (add extension on Windows if necessary)
            this.toolPath = yield io.which(this.toolPath, true);
            return new Promise((resolve, reject) => __awaiter(this, void 0, void 0, function* () {
                this._debug(`exec tool: ${this.toolPath}`);
                this._debug('arguments:');
                for (const arg of this.args) {
                    this._debug(`   ${arg}`);
                }
                const optionsNonNull = this._cloneExecOptions(this.options);
                if (!optionsNonNull.silent && optionsNonNull.outStream) {
                    optionsNonNull.outStream.write(this._getCommandString(optionsNonNull) + os.EOL);
                }
                const state = new ExecState(optionsNonNull, this.toolPath);
                state.on('debug', (message) => {
                    this._debug(message);
                });
                if (this.options.cwd && !(yield ioUtil.exists(this.options.cwd))) {
                    return reject(new Error(`The cwd: ${this.options.cwd} does not exist!`));
                }
                const fileName = this._getSpawnFileName();
                const cp = child.spawn(fileName, this._getSpawnArgs(optionsNonNull), this._getSpawnOptions(this.options, fileName));
                let stdbuffer = '';
                if (cp.stdout) {
                    cp.stdout.on('data', (data) => {
                        if (this.options.listeners && this.options.listeners.stdout) {
                            this.options.listeners.stdout(data);
                        }
                        if (!optionsNonNull.silent && optionsNonNull.outStream) {
                            optionsNonNull.outStream.write(data);
                        }
                        stdbuffer = this._processLineBuffer(data, stdbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.stdline) {
                                this.options.listeners.stdline(line);
                            }
                        });
                    });
                }
                let errbuffer = '';
                if (cp.stderr) {
                    cp.stderr.on('data', (data) => {
                        state.processStderr = true;
                        if (this.options.listeners && this.options.listeners.stderr) {
                            this.options.listeners.stderr(data);
                        }
                        if (!optionsNonNull.silent &&
                            optionsNonNull.errStream &&
                            optionsNonNull.outStream) {
                            const s = optionsNonNull.failOnStdErr
                                ? optionsNonNull.errStream
                                : optionsNonNull.outStream;
                            s.write(data);
                        }
                        errbuffer = this._processLineBuffer(data, errbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.errline) {
                                this.options.listeners.errline(line);
                            }
                        });
                    });
                }
                cp.on('error', (err) => {
                    state.processError = err.message;
                    state.processExited = true;
                    state.processClosed = true;
                    state.CheckComplete();
                });
                cp.on('exit', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    this._debug(`Exit code ${code} received from tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                cp.on('close', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    state.processClosed = true;
                    this._debug(`STDIO streams have closed for tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                state.on('done', (error, exitCode) => {
                    if (stdbuffer.length > 0) {
                        this.emit('stdline', stdbuffer);
                    }
                    if (errbuffer.length > 0) {
                        this.emit('errline', errbuffer);
                    }
                    cp.removeAllListeners();
                    if (error) {
                        reject(error);
                    }
                    else {
                        resolve(exitCode);
                    }
                });
                if (this.options.input) {
                    if (!cp.stdin) {
                        throw new Error('child process missing stdin');
                    }
                    cp.stdin.end(this.options.input);
                }
            }));
        });
    }
}
exports.ToolRunner = ToolRunner;
/**
 * Convert an arg string to an array of args. Handles escaping
 *
 * @param    argString   string of arguments
 * @returns  string[]    array of arguments
 */
function argStringToArray(argString) {
    const args = [];
    let inQuotes = false;
    let escaped = false;
    let arg = '';
    function append(c) {
        // we only escape double quotes.
        if (escaped && c !== '"') {
            arg += '\\';
        }
        arg += c;
        escaped = false;
    }
    for (let i = 0; i < argString.length; i++) {
        const c = argString.charAt(i);
        if (c === '"') {
            if (!escaped) {
                inQuotes = !inQuotes;
            }
            else {
                append(c);
            }
            continue;
        }
        if (c === '\\' && escaped) {
            append(c);
            continue;
        }
        if (c === '\\' && inQuotes) {
            escaped = true;
            continue;
        }
        if (c === ' ' && !inQuotes) {
            if (arg.length > 0) {
                args.push(arg);
                arg = '';
            }
            continue;
        }
        append(c);
    }
    if (arg.length > 0) {
        args.push(arg.trim());
    }
    return args;
}
exports.argStringToArray = argStringToArray;
class ExecState extends events.EventEmitter {
    constructor(options, toolPath) {
        super();
        this.processClosed = false; // tracks whether the process has exited and stdio is closed
        this.processError = '';
        this.processExitCode = 0;
        this.processExited = false; // tracks whether the process has exited
        this.processStderr = false; // tracks whether stderr was written to
        this.delay = 10000; // 10 seconds
        this.done = false;
        this.timeout = null;
        if (!toolPath) {
            throw new Error('toolPath must not be empty');
        }
        this.options = options;
        this.toolPath = toolPath;
        if (options.delay) {
            this.delay = options.delay;
        }
    }
    CheckComplete() {
        if (this.done) {
            return;
        }
        if (this.processClosed) {
            this._setResult();
        }
        else if (this.processExited) {
            this.timeout = timers_1.setTimeout(ExecState.HandleTimeout, this.delay, this);
        }
    }
    _debug(message) {
        this.emit('debug', message);
    }
    _setResult() {
        // determine whether there is an error
        let error;
        if (this.processExited) {
            if (this.processError) {
                error = new Error(`There was an error when attempting to execute the process '${this.toolPath}'. This may indicate the process failed to start. Error: ${this.processError}`);
            }
            else if (this.processExitCode !== 0 && !this.options.ignoreReturnCode) {
                error = new Error(`The process '${this.toolPath}' failed with exit code ${this.processExitCode}`);
            }
            else if (this.processStderr && this.options.failOnStdErr) {
                error = new Error(`The process '${this.toolPath}' failed because one or more lines were written to the STDERR stream`);
            }
        }
        // clear the timeout
        if (this.timeout) {
            clearTimeout(this.timeout);
            this.timeout = null;
        }
        this.done = true;
        this.emit('done', error, this.processExitCode);
    }
    static HandleTimeout(state) {
        if (state.done) {
            return;
        }
        if (!state.processClosed && state.processExited) {
            const message = `The STDIO streams did not close within ${state.delay /
                1000} seconds of the exit event from process '${state.toolPath}'. This may indicate a child process inherited the STDIO streams and has not yet exited.`;
            state._debug(message);
        }
        state._setResult();
    }
}
//# sourceMappingURL=toolrunner.js.map

/***/ }),

/***/ 1648:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Context = void 0;
const fs_1 = __nccwpck_require__(9896);
const os_1 = __nccwpck_require__(857);
class Context {
    /**
     * Hydrate the context from the environment
     */
    constructor() {
        var _a, _b, _c;
        this.payload = {};
        if (process.env.GITHUB_EVENT_PATH) {
            if ((0, fs_1.existsSync)(process.env.GITHUB_EVENT_PATH)) {
                this.payload = JSON.parse((0, fs_1.readFileSync)(process.env.GITHUB_EVENT_PATH, { encoding: 'utf8' }));
            }
            else {
                const path = process.env.GITHUB_EVENT_PATH;
                process.stdout.write(`GITHUB_EVENT_PATH ${path} does not exist${os_1.EOL}`);
            }
        }
        this.eventName = process.env.GITHUB_EVENT_NAME;
        this.sha = process.env.GITHUB_SHA;
        this.ref = process.env.GITHUB_REF;
        this.workflow = process.env.GITHUB_WORKFLOW;
        this.action = process.env.GITHUB_ACTION;
        this.actor = process.env.GITHUB_ACTOR;
        this.job = process.env.GITHUB_JOB;
        this.runAttempt = parseInt(process.env.GITHUB_RUN_ATTEMPT, 10);
        this.runNumber = parseInt(process.env.GITHUB_RUN_NUMBER, 10);
        this.runId = parseInt(process.env.GITHUB_RUN_ID, 10);
        this.apiUrl = (_a = process.env.GITHUB_API_URL) !== null && _a !== void 0 ? _a : `https://api.github.com`;
        this.serverUrl = (_b = process.env.GITHUB_SERVER_URL) !== null && _b !== void 0 ? _b : `https://github.com`;
        this.graphqlUrl =
            (_c = process.env.GITHUB_GRAPHQL_URL) !== null && _c !== void 0 ? _c : `https://api.github.com/graphql`;
    }
    get issue() {
        const payload = this.payload;
        return Object.assign(Object.assign({}, this.repo), { number: (payload.issue || payload.pull_request || payload).number });
    }
    get repo() {
        if (process.env.GITHUB_REPOSITORY) {
            const [owner, repo] = process.env.GITHUB_REPOSITORY.split('/');
            return { owner, repo };
        }
        if (this.payload.repository) {
            return {
                owner: this.payload.repository.owner.login,
                repo: this.payload.repository.name
            };
        }
        throw new Error("context.repo requires a GITHUB_REPOSITORY environment variable like 'owner/repo'");
    }
}
exports.Context = Context;
//# sourceMappingURL=context.js.map

/***/ }),

/***/ 5207:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    Object.defineProperty(o, k2, { enumerable: true, get: function() { return m[k]; } });
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || function (mod) {
    if (mod && mod.__esModule) return mod;
    var result = {};
    if (mod != null) for (var k in mod) if (k !== "default" && Object.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
    __setModuleDefault(result, mod);
    return result;
};
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var _a;
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.getCmdPath = exports.tryGetExecutablePath = exports.isRooted = exports.isDirectory = exports.exists = exports.READONLY = exports.UV_FS_O_EXLOCK = exports.IS_WINDOWS = exports.unlink = exports.symlink = exports.stat = exports.rmdir = exports.rm = exports.rename = exports.readlink = exports.readdir = exports.open = exports.mkdir = exports.lstat = exports.copyFile = exports.chmod = void 0;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
_a = fs.promises
// export const {open} = 'fs'
, exports.chmod = _a.chmod, exports.copyFile = _a.copyFile, exports.lstat = _a.lstat, exports.mkdir = _a.mkdir, exports.open = _a.open, exports.readdir = _a.readdir, exports.readlink = _a.readlink, exports.rename = _a.rename, exports.rm = _a.rm, exports.rmdir = _a.rmdir, exports.stat = _a.stat, exports.symlink = _a.symlink, exports.unlink = _a.unlink;
// export const {open} = 'fs'
exports.IS_WINDOWS = process.platform === 'win32';
// See https://github.com/nodejs/node/blob/d0153aee367422d0858105abec186da4dff0a0c5/deps/uv/include/uv/win.h#L691
exports.UV_FS_O_EXLOCK = 0x10000000;
exports.READONLY = fs.constants.O_RDONLY;
function exists(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        try {
            yield exports.stat(fsPath);
        }
        catch (err) {
            if (err.code === 'ENOENT') {
                return false;
            }
            throw err;
        }
        return true;
    });
}
exports.exists = exists;
function isDirectory(fsPath, useStat = false) {
    return __awaiter(this, void 0, void 0, function* () {
        const stats = useStat ? yield exports.stat(fsPath) : yield exports.lstat(fsPath);
        return stats.isDirectory();
    });
}
exports.isDirectory = isDirectory;
/**
 * On OSX/Linux, true if path starts with '/'. On Windows, true for paths like:
 * \, \hello, \\hello\share, C:, and C:\hello (and corresponding alternate separator cases).
 */
function isRooted(p) {
    p = normalizeSeparators(p);
    if (!p) {
        throw new Error('isRooted() parameter "p" cannot be empty');
    }
    if (exports.IS_WINDOWS) {
        return (p.startsWith('\\') || /^[A-Z]:/i.test(p) // e.g. \ or \hello or \\hello
        ); // e.g. C: or C:\hello
    }
    return p.startsWith('/');
}
exports.isRooted = isRooted;
/**
 * Best effort attempt to determine whether a file exists and is executable.
 * @param filePath    file path to check
 * @param extensions  additional file extensions to try
 * @return if file exists and is executable, returns the file path. otherwise empty string.
 */
function tryGetExecutablePath(filePath, extensions) {
    return __awaiter(this, void 0, void 0, function* () {
        let stats = undefined;
        try {
            // test file exists
            stats = yield exports.stat(filePath);
        }
        catch (err) {
            if (err.code !== 'ENOENT') {
                // eslint-disable-next-line no-console
                console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
            }
        }
        if (stats && stats.isFile()) {
            if (exports.IS_WINDOWS) {
                // on Windows, test for valid extension
                const upperExt = path.extname(filePath).toUpperCase();
                if (extensions.some(validExt => validExt.toUpperCase() === upperExt)) {
                    return filePath;
                }
            }
            else {
                if (isUnixExecutable(stats)) {
                    return filePath;
                }
            }
        }
        // try each extension
        const originalFilePath = filePath;
        for (const extension of extensions) {
            filePath = originalFilePath + extension;
            stats = undefined;
            try {
                stats = yield exports.stat(filePath);
            }
            catch (err) {
                if (err.code !== 'ENOENT') {
                    // eslint-disable-next-line no-console
                    console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
                }
            }
            if (stats && stats.isFile()) {
                if (exports.IS_WINDOWS) {
                    // preserve the case of the actual file (since an extension was appended)
                    try {
                        const directory = path.dirname(filePath);
                        const upperName = path.basename(filePath).toUpperCase();
                        for (const actualName of yield exports.readdir(directory)) {
                            if (upperName === actualName.toUpperCase()) {
                                filePath = path.join(directory, actualName);
                                break;
                            }
                        }
                    }
                    catch (err) {
                        // eslint-disable-next-line no-console
                        console.log(`Unexpected error attempting to determine the actual case of the file '${filePath}': ${err}`);
                    }
                    return filePath;
                }
                else {
                    if (isUnixExecutable(stats)) {
                        return filePath;
                    }
                }
            }
        }
        return '';
    });
}
exports.tryGetExecutablePath = tryGetExecutablePath;
function normalizeSeparators(p) {
    p = p || '';
    if (exports.IS_WINDOWS) {
        // convert slashes on Windows
        p = p.replace(/\//g, '\\');
        // remove redundant slashes
        return p.replace(/\\\\+/g, '\\');
    }
    // remove redundant slashes
    return p.replace(/\/\/+/g, '/');
}
// on Mac/Linux, test the execute bit
//     R   W  X  R  W X R W X
//   256 128 64 32 16 8 4 2 1
function isUnixExecutable(stats) {
    return ((stats.mode & 1) > 0 ||
        ((stats.mode & 8) > 0 && stats.gid === process.getgid()) ||
        ((stats.mode & 64) > 0 && stats.uid === process.getuid()));
}
// Get the path of cmd.exe in windows
function getCmdPath() {
    var _a;
    return (_a = process.env['COMSPEC']) !== null && _a !== void 0 ? _a : `cmd.exe`;
}
exports.getCmdPath = getCmdPath;
//# sourceMappingURL=io-util.js.map

/***/ }),

/***/ 4994:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    Object.defineProperty(o, k2, { enumerable: true, get: function() { return m[k]; } });
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || function (mod) {
    if (mod && mod.__esModule) return mod;
    var result = {};
    if (mod != null) for (var k in mod) if (k !== "default" && Object.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
    __setModuleDefault(result, mod);
    return result;
};
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.findInPath = exports.which = exports.mkdirP = exports.rmRF = exports.mv = exports.cp = void 0;
const assert_1 = __nccwpck_require__(2613);
const path = __importStar(__nccwpck_require__(6928));
const ioUtil = __importStar(__nccwpck_require__(5207));
/**
 * Copies a file or folder.
 * Based off of shelljs - https://github.com/shelljs/shelljs/blob/9237f66c52e5daa40458f94f9565e18e8132f5a6/src/cp.js
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See CopyOptions.
 */
function cp(source, dest, options = {}) {
    return __awaiter(this, void 0, void 0, function* () {
        const { force, recursive, copySourceDirectory } = readCopyOptions(options);
        const destStat = (yield ioUtil.exists(dest)) ? yield ioUtil.stat(dest) : null;
        // Dest is an existing file, but not forcing
        if (destStat && destStat.isFile() && !force) {
            return;
        }
        // If dest is an existing directory, should copy inside.
        const newDest = destStat && destStat.isDirectory() && copySourceDirectory
            ? path.join(dest, path.basename(source))
            : dest;
        if (!(yield ioUtil.exists(source))) {
            throw new Error(`no such file or directory: ${source}`);
        }
        const sourceStat = yield ioUtil.stat(source);
        if (sourceStat.isDirectory()) {
            if (!recursive) {
                throw new Error(`Failed to copy. ${source} is a directory, but tried to copy without recursive flag.`);
            }
            else {
                yield cpDirRecursive(source, newDest, 0, force);
            }
        }
        else {
            if (path.relative(source, newDest) === '') {
                // a file cannot be copied to itself
                throw new Error(`'${newDest}' and '${source}' are the same file`);
            }
            yield copyFile(source, newDest, force);
        }
    });
}
exports.cp = cp;
/**
 * Moves a path.
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See MoveOptions.
 */
function mv(source, dest, options = {}) {
    return __awaiter(this, void 0, void 0, function* () {
        if (yield ioUtil.exists(dest)) {
            let destExists = true;
            if (yield ioUtil.isDirectory(dest)) {
                // If dest is directory copy src into dest
                dest = path.join(dest, path.basename(source));
                destExists = yield ioUtil.exists(dest);
            }
            if (destExists) {
                if (options.force == null || options.force) {
                    yield rmRF(dest);
                }
                else {
                    throw new Error('Destination already exists');
                }
            }
        }
        yield mkdirP(path.dirname(dest));
        yield ioUtil.rename(source, dest);
    });
}
exports.mv = mv;
/**
 * Remove a path recursively with force
 *
 * @param inputPath path to remove
 */
function rmRF(inputPath) {
    return __awaiter(this, void 0, void 0, function* () {
        if (ioUtil.IS_WINDOWS) {
            // Check for invalid characters
            // https://docs.microsoft.com/en-us/windows/win32/fileio/naming-a-file
            if (/[*"<>|]/.test(inputPath)) {
                throw new Error('File path must not contain `*`, `"`, `<`, `>` or `|` on Windows');
            }
        }
        try {
            // note if path does not exist, error is silent
            yield ioUtil.rm(inputPath, {
                force: true,
                maxRetries: 3,
                recursive: true,
                retryDelay: 300
            });
        }
        catch (err) {
            throw new Error(`File was unable to be removed ${err}`);
        }
    });
}
exports.rmRF = rmRF;
/**
 * Make a directory.  Creates the full path with folders in between
 * Will throw if it fails
 *
 * @param   fsPath        path to create
 * @returns Promise<void>
 */
function mkdirP(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        assert_1.ok(fsPath, 'a path argument must be provided');
        yield ioUtil.mkdir(fsPath, { recursive: true });
    });
}
exports.mkdirP = mkdirP;
/**
 * Returns path of a tool had the tool actually been invoked.  Resolves via paths.
 * If you check and the tool does not exist, it will throw.
 *
 * @param     tool              name of the tool
 * @param     check             whether to check if tool exists
 * @returns   Promise<string>   path to tool
 */
function which(tool, check) {
    return __awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // recursive when check=true
        if (check) {
            const result = yield which(tool, false);
            if (!result) {
                if (ioUtil.IS_WINDOWS) {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also verify the file has a valid extension for an executable file.`);
                }
                else {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also check the file mode to verify the file is executable.`);
                }
            }
            return result;
        }
        const matches = yield findInPath(tool);
        if (matches && matches.length > 0) {
            return matches[0];
        }
        return '';
    });
}
exports.which = which;
/**
 * Returns a list of all occurrences of the given tool on the system path.
 *
 * @returns   Promise<string[]>  the paths of the tool
 */
function findInPath(tool) {
    return __awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // build the list of extensions to try
        const extensions = [];
        if (ioUtil.IS_WINDOWS && process.env['PATHEXT']) {
            for (const extension of process.env['PATHEXT'].split(path.delimiter)) {
                if (extension) {
                    extensions.push(extension);
                }
            }
        }
        // if it's rooted, return it if exists. otherwise return empty.
        if (ioUtil.isRooted(tool)) {
            const filePath = yield ioUtil.tryGetExecutablePath(tool, extensions);
            if (filePath) {
                return [filePath];
            }
            return [];
        }
        // if any path separators, return empty
        if (tool.includes(path.sep)) {
            return [];
        }
        // build the list of directories
        //
        // Note, technically "where" checks the current directory on Windows. From a toolkit perspective,
        // it feels like we should not do this. Checking the current directory seems like more of a use
        // case of a shell, and the which() function exposed by the toolkit should strive for consistency
        // across platforms.
        const directories = [];
        if (process.env.PATH) {
            for (const p of process.env.PATH.split(path.delimiter)) {
                if (p) {
                    directories.push(p);
                }
            }
        }
        // find all matches
        const matches = [];
        for (const directory of directories) {
            const filePath = yield ioUtil.tryGetExecutablePath(path.join(directory, tool), extensions);
            if (filePath) {
                matches.push(filePath);
            }
        }
        return matches;
    });
}
exports.findInPath = findInPath;
function readCopyOptions(options) {
    const force = options.force == null ? true : options.force;
    const recursive = Boolean(options.recursive);
    const copySourceDirectory = options.copySourceDirectory == null
        ? true
        : Boolean(options.copySourceDirectory);
    return { force, recursive, copySourceDirectory };
}
function cpDirRecursive(sourceDir, destDir, currentDepth, force) {
    return __awaiter(this, void 0, void 0, function* () {
        // Ensure there is not a run away recursive copy
        if (currentDepth >= 255)
            return;
        currentDepth++;
        yield mkdirP(destDir);
        const files = yield ioUtil.readdir(sourceDir);
        for (const fileName of files) {
            const srcFile = `${sourceDir}/${fileName}`;
            const destFile = `${destDir}/${fileName}`;
            const srcFileStat = yield ioUtil.lstat(srcFile);
            if (srcFileStat.isDirectory()) {
                // Recurse
                yield cpDirRecursive(srcFile, destFile, currentDepth, force);
            }
            else {
                yield copyFile(srcFile, destFile, force);
            }
        }
        // Change the mode for the newly created directory
        yield ioUtil.chmod(destDir, (yield ioUtil.stat(sourceDir)).mode);
    });
}
// Buffered file copy
function copyFile(srcFile, destFile, force) {
    return __awaiter(this, void 0, void 0, function* () {
        if ((yield ioUtil.lstat(srcFile)).isSymbolicLink()) {
            // unlink/re-link it
            try {
                yield ioUtil.lstat(destFile);
                yield ioUtil.unlink(destFile);
            }
            catch (e) {
                // Try to override file permission
                if (e.code === 'EPERM') {
                    yield ioUtil.chmod(destFile, '0666');
                    yield ioUtil.unlink(destFile);
                }
                // other errors = it doesn't exist, no work to do
            }
            // Copy over symlink
            const symlinkFull = yield ioUtil.readlink(srcFile);
            yield ioUtil.symlink(symlinkFull, destFile, ioUtil.IS_WINDOWS ? 'junction' : null);
        }
        else if (!(yield ioUtil.exists(destFile)) || force) {
            yield ioUtil.copyFile(srcFile, destFile);
        }
    });
}
//# sourceMappingURL=io.js.map

/***/ }),

/***/ 7662:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseAttributionSettings = parseAttributionSettings;
const errors_1 = __nccwpck_require__(3916);
function count(name, raw, min) {
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
        throw new errors_1.InputError(`Input '${name}' must be a whole number of at least ${min}, got ${JSON.stringify(raw)}`);
    }
    return Number(raw);
}
/** Parses the attribution inputs; an invalid one is an InputError naming it and the expected form. */
function parseAttributionSettings(raw) {
    const holdBack = raw['hold-back'].trim();
    if (holdBack !== 'none' && holdBack !== 'regressing') {
        throw new errors_1.InputError(`Input 'hold-back' must be none or regressing, got ${JSON.stringify(holdBack)}`);
    }
    const bisect = raw.bisect.trim();
    if (!['true', 'True', 'TRUE', 'false', 'False', 'FALSE'].includes(bisect)) {
        throw new errors_1.InputError(`Input 'bisect' must be true or false, got ${JSON.stringify(bisect)}`);
    }
    return {
        maxBuilds: count('attribution-max-builds', raw['attribution-max-builds'].trim(), 0),
        holdBack,
        bisect: bisect.toLowerCase() === 'true',
        bisectMaxBuilds: count('bisect-max-builds', raw['bisect-max-builds'].trim(), 1)
    };
}


/***/ }),

/***/ 5072:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.saveLock = saveLock;
exports.cleanup = cleanup;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const state_1 = __nccwpck_require__(2462);
/**
 * Keeps a copy of `lockPath` in `dir` and names it in the step's state. A step stopped by a signal puts it back
 * itself (restore); one killed outright leaves that to the post step, which restores whatever copy is still
 * there. A run that ends on its own discards the copy, keeping the lock as the run left it.
 */
function saveLock(lockPath, dir, log) {
    const saved = {
        lockPath: path.resolve(lockPath),
        content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : null
    };
    const file = path.join(dir, 'flake.lock.saved.json');
    fs.writeFileSync(file, JSON.stringify(saved));
    log.saveState(state_1.STATE.savedLock, file);
    return {
        restore: () => restoreLockFrom(file, log),
        discard: () => fs.rmSync(file, { force: true })
    };
}
/** Puts flake.lock back from a copy saveLock made, and removes the copy; nothing when it is gone. */
function restoreLockFrom(file, log) {
    if (!fs.existsSync(file))
        return;
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    const now = fs.existsSync(saved.lockPath) ? fs.readFileSync(saved.lockPath, 'utf8') : null;
    if (now !== saved.content) {
        if (saved.content === null)
            fs.rmSync(saved.lockPath, { force: true });
        else
            fs.writeFileSync(saved.lockPath, saved.content);
        log.info(`Restored ${saved.lockPath} as it was before the update`);
    }
    fs.rmSync(file, { force: true });
}
/**
 * Removes what the main step left on the runner (its work directory, the signing key), even after a failure,
 * after putting flake.lock back if the main step was stopped before it could.
 */
function cleanup(log) {
    const saved = log.getState(state_1.STATE.savedLock);
    if (saved)
        restoreLockFrom(saved, log);
    const dirs = (log.getState(state_1.STATE.cleanupDirs) || '').split('\n').filter(Boolean);
    for (const dir of dirs) {
        fs.rmSync(dir, { recursive: true, force: true });
        log.info(`Removed ${dir}`);
    }
}


/***/ }),

/***/ 7593:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.UsageError = void 0;
exports.parseArgs = parseArgs;
exports.helpText = helpText;
const action_1 = __nccwpck_require__(8367);
/** A command line that cannot be run: exit status 2. */
class UsageError extends Error {
}
exports.UsageError = UsageError;
const INPUT_NAMES = Object.keys(action_1.INPUTS);
function isInput(name) {
    return INPUT_NAMES.includes(name);
}
const CLI_VALUE_FLAGS = ['report', 'json'];
const CLI_SWITCHES = ['publish', 'verbose', 'help'];
/** The flag the user probably meant: an input with `_` for `-`, or upper case. */
function suggestion(name) {
    const normalised = name.toLowerCase().replace(/_/g, '-');
    const known = [...INPUT_NAMES, ...CLI_VALUE_FLAGS, ...CLI_SWITCHES];
    if (known.includes(normalised))
        return ` (did you mean --${normalised}?)`;
    const prefix = known.filter(k => k.startsWith(normalised));
    return prefix.length === 1 ? ` (did you mean --${prefix[0]}?)` : '';
}
/**
 * Parses the command line: `--INPUT VALUE` or `--INPUT=VALUE` for each input of action.yml, `--INPUT` alone,
 * `--INPUT=false` or `--no-INPUT` for the boolean ones, and the command line's own flags.
 */
function parseArgs(argv) {
    const args = { inputs: {}, publish: false, verbose: false, help: false };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '-h') {
            args.help = true;
            continue;
        }
        if (arg === '-v') {
            args.verbose = true;
            continue;
        }
        const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(arg);
        if (!m)
            throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: options start with --`);
        const [, name, inline] = m;
        const takeValue = () => {
            if (inline !== undefined)
                return inline;
            if (i + 1 >= argv.length)
                throw new UsageError(`--${name} needs a value`);
            return argv[++i];
        };
        if (CLI_SWITCHES.includes(name)) {
            if (inline !== undefined)
                throw new UsageError(`--${name} takes no value`);
            args[name] = true;
        }
        else if (name === 'report' || name === 'json') {
            const file = takeValue();
            if (file === '')
                throw new UsageError(`--${name} needs a file name`);
            args[name] = file;
        }
        else if (isInput(name) && action_1.INPUTS[name].type === 'boolean') {
            // `--build false` as well as `--build=false`; another next word is not this flag's value.
            const next = argv[i + 1];
            if (inline !== undefined)
                args.inputs[name] = inline;
            else if (next !== undefined && /^(true|false)$/i.test(next))
                args.inputs[name] = argv[++i];
            else
                args.inputs[name] = 'true';
        }
        else if (name.startsWith('no-') &&
            isInput(name.slice(3)) &&
            action_1.INPUTS[name.slice(3)].type === 'boolean') {
            if (inline !== undefined)
                throw new UsageError(`--${name} takes no value`);
            args.inputs[name.slice(3)] = 'false';
        }
        else if (isInput(name)) {
            args.inputs[name] = takeValue();
        }
        else {
            throw new UsageError(`unknown option --${name}${suggestion(name)}`);
        }
    }
    const dryRun = args.inputs['dry-run'];
    if (args.publish && dryRun !== undefined && /^true$/i.test(dryRun)) {
        throw new UsageError('--publish and --dry-run contradict each other');
    }
    if (!args.publish && dryRun !== undefined && /^false$/i.test(dryRun)) {
        throw new UsageError('without --publish the run is a dry run: use --publish to commit, push and open the pull request');
    }
    if (dryRun === undefined || /^(true|false)$/i.test(dryRun))
        args.inputs['dry-run'] = args.publish ? 'false' : 'true';
    return args;
}
/** Wraps text at `width` columns, indenting every line after the first by `indent`. */
function wrap(text, width, indent) {
    const lines = [];
    let line = '';
    for (const word of text.split(/\s+/)) {
        if (line !== '' && indent + line.length + 1 + word.length > width) {
            lines.push(line);
            line = word;
        }
        else
            line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
    return lines.join(`\n${' '.repeat(indent)}`);
}
function plainText(description) {
    return description.replace(/`([^`]*)`/g, '$1');
}
const COLUMN = 30;
const WIDTH = 110;
function option(flag, description) {
    const head = `  ${flag}`;
    const pad = head.length < COLUMN ? ' '.repeat(COLUMN - head.length) : `\n${' '.repeat(COLUMN)}`;
    return `${head}${pad}${wrap(description, WIDTH, COLUMN)}`;
}
/** `--help`: every input of action.yml with its description and default, then the command line's own flags. */
function helpText() {
    const inputs = INPUT_NAMES.map(name => {
        const spec = action_1.INPUTS[name];
        const flag = spec.type === 'boolean' ? `--${name}[=false]` : `--${name} VALUE`;
        let def;
        if (name === 'dry-run')
            def = 'true unless --publish';
        else if (name === 'token')
            def = '$GITHUB_TOKEN';
        else
            def = spec.default === '' ? 'empty' : spec.default;
        return option(flag, `${plainText(spec.description)} (default: ${def})`);
    });
    return `Usage: nixos-fleet-update [OPTION]...
  e.g. node dist/cli.js --flake /path/to/fleet

Updates the flake.lock of a NixOS fleet, builds every host before and after the update, and prints the report
(Markdown) on standard output and progress on standard error. Without --publish this is a dry run: flake.lock is
put back, and nothing is committed, pushed or opened.

The action's inputs, with action.yml's defaults (booleans also take --no-NAME):
${inputs.join('\n')}

Command line only:
${option('--publish', 'Commit flake.lock on the update branch, push it and open or update the pull request (needs --token or GITHUB_TOKEN, and the repository from GITHUB_REPOSITORY or the remote origin). Checked before anything is built.')}
${option('--report FILE', 'Also write the Markdown report to FILE.')}
${option('--json FILE', 'Write the structured results (hosts, package changes, errors, inputs) to FILE.')}
${option('-v, --verbose', "The whole log, Nix's build output included, on standard error.")}
${option('-h, --help', 'This text.')}

Exit status: 0 done; 1 a host that built before fails after the update (unless --fail-on-regression=false), or
the run failed; 2 bad input (an option, the checkout or what publishing needs), found before anything is built.
`;
}


/***/ }),

/***/ 4175:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.exitStatus = exitStatus;
exports.runCli = runCli;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const git_1 = __nccwpck_require__(308);
const settings_1 = __nccwpck_require__(8750);
const main_1 = __nccwpck_require__(1730);
const state_1 = __nccwpck_require__(2462);
const words_1 = __nccwpck_require__(2691);
const args_1 = __nccwpck_require__(7593);
/** The exit status for how a run ended: 1 also for a regression, as `fail-on-regression` fails the step. */
function exitStatus(outcome) {
    if (outcome.result === 'ok')
        return 0;
    return outcome.result === 'bad-input' ? 2 : 1;
}
/**
 * Shows progress on standard error: one line per phase, with its host count and elapsed time. On a terminal the
 * running phase's line counts the seconds in place; elsewhere each phase gets its line when it ends.
 */
class Progress {
    out;
    verbose;
    live;
    secrets = [];
    constructor(out, verbose) {
        this.out = out;
        this.verbose = verbose;
    }
    get animate() {
        return this.out.isTTY === true && !this.verbose;
    }
    mask(secret) {
        if (secret !== '')
            this.secrets.push(secret);
    }
    masked(text) {
        let t = text;
        for (const s of this.secrets)
            t = t.split(s).join('***');
        return t;
    }
    partial = '';
    /** Output that comes in chunks (a command's log): shown line by line as lines complete. */
    text(chunk) {
        const lines = (this.partial + chunk).split('\n');
        this.partial = lines.pop() ?? '';
        for (const l of lines)
            this.line(l.replace(/\r$/, ''));
    }
    /** A line of its own, above the running phase's line. */
    line(text) {
        if (this.live)
            this.out.write('\r\x1b[K');
        this.out.write(`${this.masked(text)}\n`);
        if (this.live)
            this.draw();
    }
    draw() {
        if (!this.live)
            return;
        const seconds = Math.floor((Date.now() - this.live.start) / 1000);
        this.out.write(`\r\x1b[K${this.live.text} … ${seconds} s`);
    }
    phase(e) {
        const name = `${e.phase}${e.hosts === undefined ? '' : ` (${(0, words_1.plural)(e.hosts, 'host')})`}`;
        if (e.state === 'start') {
            if (this.animate) {
                this.stop();
                this.live = { text: name, start: Date.now(), timer: setInterval(() => this.draw(), 1000) };
                this.live.timer.unref();
                this.draw();
            }
            else if (this.verbose)
                this.out.write(`${name} …\n`);
            return;
        }
        this.stop();
        const seconds = `${(e.seconds ?? 0).toFixed(1)} s`;
        this.line(e.state === 'end'
            ? `${name}: ${e.outcome ? `${e.outcome}, ` : ''}${seconds}`
            : `${name}: failed after ${seconds}`);
    }
    stop() {
        if (this.partial !== '')
            this.line(this.partial);
        this.partial = '';
        if (!this.live)
            return;
        clearInterval(this.live.timer);
        this.live = undefined;
        this.out.write('\r\x1b[K');
    }
}
/**
 * The log port of the command line: warnings and errors always go to standard error, the log and command output
 * only with --verbose; masks apply to all of it. There are no outputs or summary; what the run saves for a post
 * step is kept, since the command line does the post step's work itself.
 */
class CliLog {
    progress;
    verbose;
    state = new Map();
    constructor(progress, verbose) {
        this.progress = progress;
        this.verbose = verbose;
    }
    info(message) {
        if (this.verbose)
            for (const line of message.split('\n'))
                this.progress.line(line);
    }
    write(chunk) {
        if (this.verbose)
            this.progress.text(chunk);
    }
    warning(message) {
        this.progress.line(`warning: ${message}`);
    }
    error(message) {
        this.progress.line(`error: ${message}`);
    }
    async group(name, fn) {
        if (this.verbose)
            this.progress.line(`== ${name}`);
        return fn();
    }
    mask(secret) {
        this.progress.mask(secret);
    }
    output() { }
    saveState(name, value) {
        this.state.set(name, value);
    }
    getState(name) {
        return this.state.get(name) ?? '';
    }
    summary() { }
    failed(message) {
        this.error(message);
    }
}
/** Checks that a file given with --report or --json can be written, before anything runs. */
function writableTarget(flag, file) {
    const dir = path.dirname(file);
    try {
        if (fs.existsSync(file) && fs.statSync(file).isDirectory())
            return `--${flag} ${file} is a directory`;
        fs.accessSync(fs.existsSync(file) ? file : dir, fs.constants.W_OK);
        return undefined;
    }
    catch {
        return `--${flag} ${file}: ${fs.existsSync(dir) ? 'cannot be written' : `the directory ${dir} does not exist`}`;
    }
}
const RUNNER_FILES = ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY'];
/** The branch checked out in `dir`, as a runner names the branch it runs on; undefined when detached or no git. */
async function checkedOutBranch(dir) {
    try {
        const r = await (await git_1.Git.create(dir)).exec(['symbolic-ref', '--quiet', '--short', 'HEAD']);
        return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    }
    catch {
        return undefined;
    }
}
/** The top level of the git work tree that holds `dir`, if any. */
async function topLevel(dir) {
    try {
        return await (await git_1.Git.create(dir)).topLevel();
    }
    catch {
        return undefined;
    }
}
/** `dir` with symbolic links resolved, as git names its top level; as given when it does not exist. */
function realPath(dir) {
    try {
        return fs.realpathSync(dir);
    }
    catch {
        return dir;
    }
}
/**
 * The command line: runs the action's pipeline on a flake outside a runner. The report goes to standard output
 * (and --report), the structured results to --json, progress to standard error; the exit status says how it
 * went. The run gets its own environment and log: nothing of the process is changed.
 */
async function runCli(argv, io) {
    let args;
    try {
        args = (0, args_1.parseArgs)(argv);
    }
    catch (e) {
        if (!(e instanceof args_1.UsageError))
            throw e;
        io.stderr.write(`nixos-fleet-update: ${e.message}\nTry --help.\n`);
        return 2;
    }
    if (args.help) {
        io.stdout.write((0, args_1.helpText)());
        return 0;
    }
    const problems = [
        args.report ? writableTarget('report', path.resolve(io.cwd, args.report)) : undefined,
        args.json ? writableTarget('json', path.resolve(io.cwd, args.json)) : undefined
    ].filter((p) => p !== undefined);
    if (problems.length > 0) {
        io.stderr.write(`nixos-fleet-update: ${problems.join('\n')}\n`);
        return 2;
    }
    // One flake: its directory is the workspace, as a checkout is where a runner starts, so --flake may point
    // anywhere. Several (a list, as the input takes): the top level of the repository the first is in.
    const flakeDirs = (0, settings_1.flakeEntries)(args.inputs.flake ?? '.').map(s => path.resolve(io.cwd, s.replace(/^path:/, '')));
    const flakeDir = flakeDirs.length > 1 ? ((await topLevel(flakeDirs[0])) ?? io.cwd) : flakeDirs[0];
    const flakeInput = flakeDirs.length > 1 ? flakeDirs.map(d => path.relative(flakeDir, realPath(d)) || '.').join('\n') : '.';
    // base-branch's default, "the current branch", is the branch checked out here as it is the runner's ref there.
    const branch = args.inputs['base-branch'] === undefined ? await checkedOutBranch(flakeDir) : undefined;
    const inputs = (name) => {
        if (name === 'flake')
            return flakeInput;
        // `${{ github.token }}` on a runner; GITHUB_TOKEN here.
        if (name === 'token')
            return args.inputs.token ?? process.env.GITHUB_TOKEN;
        return args.inputs[name];
    };
    const progress = new Progress(io.stderr, args.verbose);
    const log = new CliLog(progress, args.verbose);
    // Not a runner: no output, state or summary files, not even a surrounding job's. A signal is handled by the
    // run as on a runner: it stops the commands, puts flake.lock back and exits.
    const env = { ...process.env, GITHUB_WORKSPACE: flakeDir };
    for (const name of RUNNER_FILES)
        delete env[name];
    if (branch)
        Object.assign(env, { GITHUB_REF: `refs/heads/${branch}`, GITHUB_REF_NAME: branch });
    let outcome;
    try {
        outcome = await (0, main_1.run)({ log, env, inputs, onPhase: e => progress.phase(e) });
    }
    finally {
        progress.stop();
        // What the action's post step removes: the work directory and key files.
        for (const dir of (log.state.get(state_1.STATE.cleanupDirs) ?? '').split('\n').filter(Boolean))
            fs.rmSync(dir, { recursive: true, force: true });
    }
    if (outcome.report !== undefined) {
        io.stdout.write(outcome.report.endsWith('\n') ? outcome.report : `${outcome.report}\n`);
        if (args.report)
            fs.writeFileSync(path.resolve(io.cwd, args.report), outcome.report);
    }
    if (outcome.json !== undefined && args.json)
        fs.writeFileSync(path.resolve(io.cwd, args.json), outcome.json);
    return exitStatus(outcome);
}


/***/ }),

/***/ 3916:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.InputError = void 0;
exports.errorMessage = errorMessage;
/** The message of anything thrown: an Error's message, else its text. */
function errorMessage(error) {
    // Not `instanceof Error`: an error made in another realm (Node's own, seen from a vm context) is one too.
    const message = error?.message;
    return typeof message === 'string' ? message : String(error);
}
/** Bad input: the step fails naming the input and what was expected (exit code 2 on the command line). */
class InputError extends Error {
}
exports.InputError = InputError;


/***/ }),

/***/ 3190:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.KILL_GRACE_MS = void 0;
exports.childEnv = childEnv;
exports.stopChildren = stopChildren;
exports.stopping = stopping;
exports.runQuick = runQuick;
exports.runProcess = runProcess;
exports.tail = tail;
const exec_1 = __nccwpck_require__(5236);
const child_process_1 = __nccwpck_require__(5317);
const fs = __importStar(__nccwpck_require__(9896));
const os = __importStar(__nccwpck_require__(857));
const string_decoder_1 = __nccwpck_require__(3193);
const memory_1 = __nccwpck_require__(8820);
const retry_1 = __nccwpck_require__(9809);
/**
 * Variables a child process inherits from the runner: what Nix, git, ssh and curl need to find their files,
 * certificates, proxies and agent. Everything else stays behind, above all the step's inputs (INPUT_TOKEN,
 * INPUT_SIGNING-KEY) and the runner's own tokens: single-user Nix hands any variable of its caller to a
 * fixed-output derivation that lists it in impureEnvVars, and such a builder has network access.
 */
const INHERITED = new Set([
    'PATH',
    'HOME',
    'USER',
    'LOGNAME',
    'SHELL',
    'TERM',
    'TZ',
    'TMPDIR',
    'TMP',
    'TEMP',
    'LANG',
    'LANGUAGE',
    'LOCALE_ARCHIVE',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    'CURL_CA_BUNDLE',
    'SSH_AUTH_SOCK',
    'XDG_CONFIG_HOME',
    'XDG_CONFIG_DIRS',
    'XDG_CACHE_HOME',
    'XDG_DATA_HOME',
    'XDG_DATA_DIRS',
    'XDG_STATE_HOME',
    'XDG_RUNTIME_DIR',
    'http_proxy',
    'https_proxy',
    'ftp_proxy',
    'all_proxy',
    'no_proxy',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'FTP_PROXY',
    'ALL_PROXY',
    'NO_PROXY',
    // How git reaches a remote, as the runner's configuration chose it; git's state variables (GIT_DIR,
    // GIT_INDEX_FILE, GIT_CONFIG_*) are set by the action itself where it needs them, never inherited.
    'GIT_SSH',
    'GIT_SSH_COMMAND',
    'GIT_SSL_CAINFO',
    'GIT_SSL_CAPATH'
]);
/** Prefixes of inherited variables: the locale, and Nix's own settings (NIX_CONFIG, NIX_PATH, NIX_SSHOPTS, …). */
const INHERITED_PREFIXES = ['LC_', 'NIX_'];
/** Never inherited, whatever the lists above say: a variable with such a name holds a credential. */
const SECRET_NAME = /^(INPUT_|ACTIONS_)|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY$/i;
/** The environment a child process gets: the allowed variables of `env`, then the caller's own `extra`. */
function childEnv(env, extra = {}) {
    const out = {};
    for (const [name, value] of Object.entries(env)) {
        if (value === undefined || SECRET_NAME.test(name))
            continue;
        if (INHERITED.has(name) || INHERITED_PREFIXES.some(p => name.startsWith(p)))
            out[name] = value;
    }
    return { ...out, ...extra };
}
/** Collects a byte stream as text, decoding characters split across chunks as one. */
class TextCollector {
    echo;
    decoder = new string_decoder_1.StringDecoder('utf8');
    text = '';
    constructor(echo) {
        this.echo = echo;
    }
    write(data) {
        this.add(this.decoder.write(data));
    }
    end() {
        this.add(this.decoder.end());
        return this.text;
    }
    add(chunk) {
        this.text += chunk;
        if (this.echo && chunk !== '')
            this.echo(chunk);
    }
}
/** Children that run now, each the leader of its own process group. */
const running = new Set();
/** Set once the action is being stopped: from then on no command starts. */
let stopSignal;
/** How long a stopped process group gets after SIGTERM (or SIGINT) before SIGKILL. */
exports.KILL_GRACE_MS = 5000;
function signalGroup(child, signal) {
    // The group outlives its leader while anything it started is still in it, so this does not ask whether the
    // command itself has exited.
    if (child.pid === undefined)
        return;
    try {
        // The negative pid names the child's process group: the command and everything it started that stayed in it.
        process.kill(-child.pid, signal);
    }
    catch {
        // Gone already.
    }
}
/**
 * Sends `signal` to the process group of every running command, and refuses to start new ones from now on.
 * Returns once every one has exited, or after `graceMs`, when whatever is left gets SIGKILL.
 */
async function stopChildren(signal, graceMs = exports.KILL_GRACE_MS) {
    stopSignal = signal;
    const children = [...running];
    for (const child of children)
        signalGroup(child, signal);
    const deadline = Date.now() + graceMs;
    while (running.size > 0 && Date.now() < deadline)
        await (0, retry_1.sleep)(50);
    for (const child of [...running])
        signalGroup(child, 'SIGKILL');
}
/** The signal that is stopping the action, if one is. */
function stopping() {
    return stopSignal;
}
/**
 * Runs a short local command that starts nothing of its own (`nix --version`, `ssh-keygen -y`) through
 * @actions/exec, with the same allow-listed environment as every command; no process group is needed, since a
 * signal to the action reaches it with the action's own group. Output is captured, never echoed.
 */
async function runQuick(file, args, options = {}) {
    if (stopSignal)
        throw new Error(`Not starting ${file}: the action is stopping (${stopSignal})`);
    const r = await (0, exec_1.getExecOutput)(file, args, {
        env: childEnv(process.env),
        silent: true,
        ignoreReturnCode: true,
        input: options.input === undefined ? undefined : Buffer.from(options.input)
    });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}
/**
 * Runs a program with an argument array (never through a shell) and captures its output.
 * A non-zero exit is returned, not thrown: callers decide what a failure means.
 * Each command leads its own process group, so that a signal to the action reaches the command and whatever
 * it started (stopChildren) and a time-out stops all of them; that is also why this does not go through
 * @actions/exec, which gives neither the group nor the process id.
 */
async function runProcess(file, args, options = {}) {
    if (stopSignal)
        throw new Error(`Not starting ${file}: the action is stopping (${stopSignal})`);
    if (options.cwd && !fs.existsSync(options.cwd)) {
        throw new Error(`Cannot run ${file}: its working directory ${options.cwd} does not exist`);
    }
    const stdout = new TextCollector(options.streamStdout);
    const stderr = new TextCollector(options.streamStderr);
    return new Promise((resolve, reject) => {
        const child = (0, child_process_1.spawn)(file, args, {
            cwd: options.cwd,
            // Read at each call: what a caller set in process.env (NIX_CONFIG, PATH) reaches the child.
            env: childEnv(process.env, options.env),
            stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
            detached: true
        });
        running.add(child);
        let timedOut = false;
        let killTimer;
        const timer = options.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                timedOut = true;
                signalGroup(child, 'SIGTERM');
                killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), exports.KILL_GRACE_MS);
            }, options.timeoutMs);
        let overLimit = false;
        const watch = options.memoryLimit === undefined || child.pid === undefined
            ? undefined
            : (0, memory_1.watchMemory)(child.pid, options.memoryLimit, () => {
                overLimit = true;
                signalGroup(child, 'SIGKILL');
            });
        const done = () => {
            running.delete(child);
            clearTimeout(timer);
            clearTimeout(killTimer);
            watch?.stop();
        };
        child.stdout?.on('data', (d) => stdout.write(d));
        child.stderr?.on('data', (d) => stderr.write(d));
        child.on('error', error => {
            done();
            reject(new Error(`Cannot run ${file}: ${error.message}`));
        });
        let settled = false;
        const finish = (code, signal) => {
            if (settled)
                return;
            settled = true;
            done();
            const exitCode = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
            resolve({
                stdout: stdout.end(),
                stderr: stderr.end(),
                exitCode,
                ...(timedOut ? { timedOut } : {}),
                ...(watch ? { overLimit, peakRss: watch.peak() } : {})
            });
        };
        child.on('close', finish);
        // A process the command left behind may hold its output pipes open: the command's own exit counts then.
        child.on('exit', (code, signal) => {
            setTimeout(() => {
                child.stdout?.destroy();
                child.stderr?.destroy();
                finish(code, signal);
            }, 10000).unref();
        });
        if (options.input !== undefined && child.stdin) {
            // A command that exits without reading all of its input must not fail the action with EPIPE.
            child.stdin.on('error', () => undefined);
            child.stdin.end(Buffer.from(options.input));
        }
    });
}
/** The last `lines` lines of a text, without trailing blank lines. */
function tail(text, lines) {
    const all = text.replace(/\s+$/, '').split('\n');
    return all.slice(Math.max(0, all.length - lines)).join('\n');
}


/***/ }),

/***/ 5837:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.isApiCommitter = isApiCommitter;
function isApiCommitter(forge) {
    const f = forge;
    return (typeof f?.createBranch === 'function' &&
        typeof f.deleteBranch === 'function' &&
        typeof f.commitFile === 'function');
}


/***/ }),

/***/ 7514:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.upsertComment = upsertComment;
/**
 * Keeps one comment on pull request `number` current: the comment holding `marker` (a hidden HTML comment, never
 * shown) is edited in place, or created when there is none. The author is not compared: a token of another account
 * (a bot's instead of the workflow's) still finds and edits it, where the forge lets it.
 */
async function upsertComment(forge, number, marker, text) {
    const body = `${marker}\n${text}`;
    const existing = (await forge.listComments(number)).find(c => c.body.includes(marker));
    if (!existing)
        return { comment: await forge.createComment(number, body), operation: 'created' };
    if (existing.body === body)
        return { comment: existing, operation: 'unchanged' };
    return { comment: await forge.editComment(existing.id, body), operation: 'updated' };
}


/***/ }),

/***/ 397:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.forgeEndpoints = forgeEndpoints;
exports.makeForge = makeForge;
const forgejo_1 = __nccwpck_require__(5483);
const github_1 = __nccwpck_require__(932);
/** Where the forge's API is and which repository to act on, from the inputs and the runner's environment. */
function forgeEndpoints(settings, env) {
    const repository = env.GITHUB_REPOSITORY ?? '';
    const m = /^([^/\s]+)\/([^/\s]+)$/.exec(repository);
    if (!m) {
        throw new Error(`GITHUB_REPOSITORY is ${repository ? `"${repository}"` : 'not set'}: publishing needs the repository as OWNER/NAME`);
    }
    const serverUrl = (env.GITHUB_SERVER_URL || (settings.forge === 'github' ? 'https://github.com' : '')).replace(/\/+$/, '');
    let apiUrl = settings.apiUrl || env.GITHUB_API_URL?.replace(/\/+$/, '');
    if (!apiUrl && settings.forge === 'forgejo' && serverUrl)
        apiUrl = `${serverUrl}/api/v1`;
    if (!apiUrl && settings.forge === 'github')
        apiUrl = 'https://api.github.com';
    if (!apiUrl)
        throw new Error("No API URL: set the input 'api-url' (e.g. https://codeberg.org/api/v1)");
    const graphqlUrl = env.GITHUB_GRAPHQL_URL ||
        (/\/api\/v3$/.test(apiUrl) ? apiUrl.replace(/\/api\/v3$/, '/api/graphql') : `${apiUrl}/graphql`);
    return {
        apiUrl,
        serverUrl: serverUrl || apiUrl.replace(/\/api\/v1$/, ''),
        graphqlUrl,
        owner: m[1],
        repo: m[2]
    };
}
/** The forge client chosen by `forge` (or detected): GitHub's REST and GraphQL, or Forgejo's /api/v1 only. */
function makeForge(settings, env, log, options = {}) {
    if (!settings.token)
        throw new Error("Input 'token' is empty: opening the pull request needs a token");
    const e = forgeEndpoints(settings, env);
    return settings.forge === 'forgejo'
        ? new forgejo_1.ForgejoForge(e.apiUrl, settings.token, e.owner, e.repo, e.serverUrl, log, options)
        : new github_1.GitHubForge(e.apiUrl, settings.token, e.owner, e.repo, e.serverUrl, e.graphqlUrl, options);
}


/***/ }),

/***/ 9087:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.CONTEXT_PREFIX = void 0;
exports.parseCommits = parseCommits;
exports.parseStatuses = parseStatuses;
exports.pendingReboot = pendingReboot;
exports.fleetState = fleetState;
exports.readBranchStatuses = readBranchStatuses;
exports.readFleetState = readFleetState;
const forge_1 = __nccwpck_require__(6576);
const shape_1 = __nccwpck_require__(1682);
/** The status context prefix that hosts report under (services.fleet-auto-upgrade.reportStatus.context). */
exports.CONTEXT_PREFIX = 'nixos-upgrade/';
const str = (v) => (typeof v === 'string' ? v : undefined);
/** The base branch's recent commits from `GET /repos/{o}/{r}/commits?sha=BASE`. */
function parseCommits(body) {
    if (!Array.isArray(body))
        throw new Error('the commit list is not a JSON array');
    return body.flatMap(c => {
        if (!(0, shape_1.isRecord)(c) || typeof c.sha !== 'string')
            return [];
        const commit = (0, shape_1.isRecord)(c.commit) ? c.commit : {};
        const committer = (0, shape_1.isRecord)(commit.committer) ? commit.committer : {};
        const date = str(committer.date) ?? str(c.created) ?? '';
        const parents = Array.isArray(c.parents)
            ? c.parents.flatMap(p => ((0, shape_1.isRecord)(p) && typeof p.sha === 'string' ? [p.sha] : []))
            : undefined;
        return [parents ? { sha: c.sha, date, parents } : { sha: c.sha, date }];
    });
}
/** Statuses from `GET /repos/{o}/{r}/commits/{sha}/statuses`, either forge's shape; null entries skipped. */
function parseStatuses(sha, body) {
    if (!Array.isArray(body))
        throw new Error('the status list is not a JSON array');
    return body.flatMap(s => {
        if (!(0, shape_1.isRecord)(s))
            return [];
        const context = str(s.context);
        const state = str(s.state) ?? str(s.status);
        if (context === undefined || state === undefined)
            return [];
        return [
            {
                sha,
                context,
                state,
                description: str(s.description) ?? '',
                at: str(s.updated_at) ?? str(s.created_at) ?? ''
            }
        ];
    });
}
/** The boot parts a description says a reboot is pending for; "next boot" after `operation = "boot"`. */
function pendingReboot(description) {
    const m = /reboot pending \(([^)]*)\)/.exec(description);
    if (m)
        return m[1].split(/,\s*/).filter(Boolean);
    if (/^boots into \S+ at next reboot/.test(description))
        return ['next boot'];
    return [];
}
/**
 * Each flake host's last report, from the statuses of the base branch's recent commits: the newest status per
 * `nixos-upgrade/<host>` context wins, wherever it is. A host is stale when its report is older than
 * `staleAfterMs`, or when the first base commit it has not deployed has been on the branch longer than that.
 */
function fleetState(input) {
    const { commits, staleAfterMs, now } = input;
    const index = new Map(commits.map((c, i) => [c.sha, i]));
    const latest = new Map();
    for (const s of input.statuses) {
        if (!s.context.startsWith(exports.CONTEXT_PREFIX))
            continue;
        const host = s.context.slice(exports.CONTEXT_PREFIX.length);
        const seen = latest.get(host);
        if (!seen || Date.parse(s.at) > Date.parse(seen.at))
            latest.set(host, s);
    }
    const age = (iso) => now.getTime() - Date.parse(iso);
    const days = (ms) => `${Math.round((ms / 86400000) * 10) / 10} d`;
    const hosts = [];
    for (const host of input.hosts) {
        const s = latest.get(host);
        if (!s)
            continue;
        const behind = index.get(s.sha);
        // The oldest base commit the host has not deployed; past the commits read, the oldest one read.
        const firstMissed = behind === undefined ? commits[commits.length - 1] : behind > 0 ? commits[behind - 1] : undefined;
        let staleReason;
        if (Number.isFinite(age(s.at)) && age(s.at) > staleAfterMs) {
            staleReason = `last report ${days(age(s.at))} ago`;
        }
        else if (firstMissed &&
            Number.isFinite(age(firstMissed.date)) &&
            age(firstMissed.date) > staleAfterMs) {
            staleReason = `${behind === undefined ? `more than ${commits.length}` : behind} commit${behind === 1 ? '' : 's'} behind for ${days(age(firstMissed.date))}`;
        }
        hosts.push({
            host,
            sha: s.sha,
            at: s.at,
            state: s.state,
            description: s.description,
            behind,
            rebootPending: pendingReboot(s.description),
            failed: s.state === 'failure' || s.state === 'error',
            stale: staleReason !== undefined,
            staleReason
        });
    }
    return {
        base: input.base,
        commits,
        hosts,
        neverReported: input.hosts.filter(h => !latest.has(h)),
        staleAfterMs
    };
}
/** How many base-branch commits are read, and how many status pages per commit at most. */
const COMMITS = 20;
const STATUS_PAGES = 5;
/**
 * Reads the base branch's last commits and their statuses (read-only). Forgejo pages with `limit` (capped by the
 * server, 50 by default), GitHub with `per_page` (up to 100).
 */
async function readBranchStatuses(api, forge, target) {
    const base = (0, forge_1.repoPath)(target.owner, target.repo);
    const size = forge === 'github' ? 100 : 50;
    const paging = (n, page) => forge === 'github' ? `per_page=${n}&page=${page}` : `limit=${n}&page=${page}`;
    const extra = forge === 'forgejo' ? '&stat=false&verification=false&files=false' : '';
    const list = await api.request('Reading the base branch commits', 'GET', `${base}/commits?sha=${encodeURIComponent(target.base)}&${paging(COMMITS, 1)}${extra}`);
    const commits = parseCommits(list.body).slice(0, COMMITS);
    const statuses = [];
    for (const c of commits) {
        let fetched = 0;
        for (let page = 1; page <= STATUS_PAGES; page++) {
            const r = await api.request('Reading commit statuses', 'GET', `${base}/commits/${c.sha}/statuses?${paging(size, page)}`);
            statuses.push(...parseStatuses(c.sha, r.body));
            const n = Array.isArray(r.body) ? r.body.length : 0;
            fetched += n;
            // Forgejo may cap a page below `limit` (MAX_RESPONSE_ITEMS) and says how many there are in X-Total-Count.
            const total = Number(r.headers.get('x-total-count') ?? NaN);
            if (n === 0 || (Number.isFinite(total) ? fetched >= total : n < size))
                break;
        }
    }
    return { commits, statuses };
}
/** The fleet state from the base branch's statuses (the caller treats any error as a warning). */
async function readFleetState(api, forge, target, hosts, staleAfterMs, now) {
    const { commits, statuses } = await readBranchStatuses(api, forge, target);
    return fleetState({ base: target.base, hosts, commits, statuses, staleAfterMs, now });
}


/***/ }),

/***/ 6576:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.AutoMergeRefusal = void 0;
exports.repoPath = repoPath;
exports.compareLink = compareLink;
/** `/repos/OWNER/REPO`: the same path prefix on GitHub and Forgejo (after the API base). */
function repoPath(owner, repo) {
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
}
/** The web page comparing two branches; both forges use `/OWNER/REPO/compare/BASE...HEAD`. */
function compareLink(serverUrl, owner, repo, base, head) {
    const ref = (name) => name.split('/').map(encodeURIComponent).join('/');
    return `${serverUrl}/${owner}/${repo}/compare/${ref(base)}...${ref(head)}`;
}
/** The forge refused auto-merge for a reason another attempt will not change; the message says what to fix. */
class AutoMergeRefusal extends Error {
}
exports.AutoMergeRefusal = AutoMergeRefusal;


/***/ }),

/***/ 5483:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.ForgejoForge = void 0;
const errors_1 = __nccwpck_require__(3916);
const http_1 = __nccwpck_require__(2847);
const forge_1 = __nccwpck_require__(6576);
const people_1 = __nccwpck_require__(3364);
const rest_forge_1 = __nccwpck_require__(11);
const merge_1 = __nccwpck_require__(6279);
const shape_1 = __nccwpck_require__(1682);
const retry_1 = __nccwpck_require__(9809);
/** The head repository's full name, when the answer has one (a deleted fork has none). */
function headRepoName(v) {
    const name = (0, shape_1.isRecord)(v) && (0, shape_1.isRecord)(v.head) && (0, shape_1.isRecord)(v.head.repo) ? v.head.repo.full_name : undefined;
    return typeof name === 'string' ? name : undefined;
}
const PAGE = 50;
/** `token does not have at least one of required scope(s): [read:issue]` → `read:issue`. */
function missingScope(e) {
    if (!(e instanceof http_1.ForgeError) || e.status !== 403)
        return undefined;
    const m = /required scope\(s\)[^[]*\[([^\]]+)\]/.exec(e.forgeMessage);
    return m ? m[1] : undefined;
}
/** Forgejo's answer while it still computes whether the pull request can be merged (ErrNotMergeableState). */
const NOT_YET_MERGEABLE = /try again later/i;
/** What each final 405 of the merge endpoint means for the user. */
const MERGE_REFUSAL_HINTS = [
    [
        /not allowed to merge/i,
        "the token's account may not merge into the base branch (repository permissions or the branch protection's merge allow-list)"
    ],
    [/work in progress/i, 'the title marks the pull request as work in progress'],
    [/signed/i, 'branch protection requires signed merge commits, which this Forgejo instance cannot sign']
];
/** Forgejo's and Gitea's /api/v1. No GraphQL, no git-data API: pushing is git's job. */
class ForgejoForge extends rest_forge_1.RestForge {
    log;
    options;
    kind = 'forgejo';
    constructor(apiUrl, token, owner, repo, serverUrl, log, options = {}) {
        super(new http_1.ApiClient(apiUrl, token, options), owner, repo, serverUrl);
        this.log = log;
        this.options = options;
    }
    get fullName() {
        return `${this.owner}/${this.repo}`.toLowerCase();
    }
    /**
     * Pages through the open pull requests: Forgejo ignores `?head=`, and `GET /pulls/{base}/{head}` answers with
     * the first pull request ever made for the pair, closed ones included. The list may hold `null` where one
     * pull request failed to load (documented in Forgejo's swagger): those are skipped.
     */
    async findOpenPull(head, base) {
        for (let page = 1; page <= 100; page++) {
            const query = new URLSearchParams({ state: 'open', limit: String(PAGE), page: String(page) });
            const r = await this.api.request('Finding the open pull request', 'GET', `${this.path}/pulls?${query.toString()}`);
            const list = (0, shape_1.needList)(r);
            for (const [i, entry] of list.entries()) {
                if (entry === null)
                    continue;
                const p = (0, shape_1.readPullFields)(r, entry, `entry ${i + 1 + (page - 1) * PAGE}`);
                const headRepo = headRepoName(entry);
                const sameRepo = headRepo === undefined || headRepo.toLowerCase() === this.fullName;
                if (p.state === 'open' && p.head === head && p.base === base && sameRepo)
                    return p;
            }
            if (list.length < PAGE)
                return undefined;
        }
        return undefined;
    }
    async createPull(pull) {
        try {
            const r = await this.api.request('Creating the pull request', 'POST', `${this.path}/pulls`, {
                head: pull.head,
                base: pull.base,
                title: pull.title,
                body: pull.body
            });
            return { pull: (0, shape_1.readPullFields)(r, r.body), created: true };
        }
        catch (e) {
            if (e instanceof http_1.ForgeError && e.status === 409) {
                // An earlier attempt of this same request timed out after Forgejo acted on it: the pull request is ours.
                const created = e.uncertainAttempts > 0;
                // "pull request already exists for these targets [id: …, issue_id: N, …]": N is the pull request's number.
                const m = /issue_id:\s*(\d+)/.exec(e.forgeMessage);
                if (m) {
                    const r = await this.api.request('Reading the existing pull request', 'GET', `${this.path}/pulls/${m[1]}`);
                    return { pull: (0, shape_1.readPullFields)(r, r.body), created };
                }
                const existing = await this.findOpenPull(pull.head, pull.base);
                if (existing)
                    return { pull: existing, created };
            }
            if (e instanceof http_1.ForgeError && e.status === 404) {
                throw new Error(`${e.message}. The token cannot open pull requests here (Forgejo's automatic workflow token is refused for this): use a bot account's token. The branch ${pull.head} is pushed; open the pull request by hand: ${this.compareUrl(pull.base, pull.head)}`);
            }
            throw e;
        }
    }
    async updatePull(number, title, body) {
        // Forgejo answers 201 here, GitHub 200: any 2xx is success.
        const r = await this.api.request('Updating the pull request', 'PATCH', `${this.path}/pulls/${number}`, {
            title,
            body
        });
        return (0, shape_1.readPullFields)(r, r.body);
    }
    async listLabels(operation, path, ids) {
        for (let page = 1; page <= 100; page++) {
            const query = new URLSearchParams({ limit: String(PAGE), page: String(page) });
            const r = await this.api.request(operation, 'GET', `${path}?${query.toString()}`);
            const list = (0, shape_1.needList)(r);
            for (const [i, l] of list.entries()) {
                const where = `label ${i + 1 + (page - 1) * PAGE}`;
                const name = (0, shape_1.need)(r, l, 'name', 'string', where);
                // A repository label wins over an organisation label of the same name.
                if (!ids.has(name))
                    ids.set(name, (0, shape_1.need)(r, l, 'id', 'number', where));
            }
            if (list.length < PAGE)
                return;
        }
    }
    /**
     * Label IDs by name: the repository's labels, then, for names it lacks, the organisation's when the owner is
     * one (Forgejo lists them apart; the add endpoint takes both kinds of ID).
     */
    async labelIds(names) {
        const ids = new Map();
        await this.listLabels('Listing labels', `${this.path}/labels`, ids);
        // Only names the repository lacks are looked for among the organisation's labels.
        if (names.every(n => ids.has(n)))
            return ids;
        try {
            await this.listLabels('Listing organisation labels', `/orgs/${encodeURIComponent(this.owner)}/labels`, ids);
        }
        catch (e) {
            // 404: the owner is a user, not an organisation.
            if (!(e instanceof http_1.ForgeError && e.status === 404)) {
                const scope = missingScope(e);
                this.log.warning(scope
                    ? `Organisation labels of ${this.owner} not read: the token lacks the scope ${scope} (read:organization); repository labels only`
                    : `Organisation labels of ${this.owner} not read: ${(0, errors_1.errorMessage)(e)}`);
            }
        }
        return ids;
    }
    async addLabels(number, names) {
        if (names.length === 0)
            return [];
        try {
            const ids = await this.labelIds(names);
            const missing = names.filter(n => !ids.has(n));
            if (missing.length > 0) {
                this.log.warning(`Labels not found in ${this.owner}/${this.repo}, not added: ${missing.join(', ')}`);
            }
            const found = names.filter(n => ids.has(n)).map(n => ids.get(n));
            if (found.length > 0) {
                await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, {
                    labels: found
                });
            }
            return missing;
        }
        catch (e) {
            const scope = missingScope(e);
            if (scope && e instanceof Error) {
                // Labels are in Forgejo's issue scope group; pull requests in the repository one.
                throw new Error(`${e.message}. Forgejo keeps labels under the token scope write:issue (the token lacks ${scope}): add that scope to the token, or leave 'pr-labels' empty`);
            }
            throw e;
        }
    }
    /**
     * Forgejo checks every name before it requests any (routers/api/v1/repo/pull_review.go): 404 "User 'x' not
     * exist", 422 for one who may not review (no read access, the pull request's poster); each is then asked alone.
     */
    async requestReviewers(number, names) {
        if (names.length === 0)
            return [];
        const path = `${this.path}/pulls/${number}/requested_reviewers`;
        return (0, people_1.eachRefusal)(names, async (reviewers) => {
            await this.api.request('Requesting reviews', 'POST', path, { reviewers });
        }, e => e.status === 404 || e.status === 422);
    }
    /**
     * Assignees are set through the issue edit, which replaces the whole list (routers/api/v1/repo/issue.go,
     * EditIssue): the current ones are kept. A name that cannot be assigned fails that edit with a 500 whose
     * message a production instance hides, so names are first checked against the repository's assignable users
     * (`GET /repos/{o}/{r}/assignees`, collaborators.go).
     */
    async addAssignees(number, names) {
        if (names.length === 0)
            return [];
        try {
            const listed = await this.api.request('Listing assignable users', 'GET', `${this.path}/assignees`);
            const assignable = new Set((0, people_1.logins)((0, shape_1.needList)(listed)).map(l => l.toLowerCase()));
            const refused = names
                .filter(n => !assignable.has(n.toLowerCase()))
                .map(name => ({
                name,
                reason: `not among the users who can be assigned in ${this.owner}/${this.repo} (it needs write access)`
            }));
            const wanted = names.filter(n => assignable.has(n.toLowerCase()));
            if (wanted.length === 0)
                return refused;
            const issuePath = `${this.path}/issues/${number}`;
            const issue = await this.api.request('Reading the assignees', 'GET', issuePath);
            const current = (0, shape_1.isRecord)(issue.body) ? (0, people_1.logins)(issue.body.assignees) : [];
            const all = [...current, ...wanted.filter(n => !current.some(c => c.toLowerCase() === n.toLowerCase()))];
            if (all.length > current.length) {
                await this.api.request('Assigning the pull request', 'PATCH', issuePath, { assignees: all });
            }
            return refused;
        }
        catch (e) {
            const scope = missingScope(e);
            if (scope && e instanceof Error) {
                throw new Error(`${e.message}. Forgejo keeps assignees under the token scope write:issue (the token lacks ${scope})`);
            }
            throw e;
        }
    }
    /**
     * Schedules the merge for when checks pass. Forgejo schedules any `Do` with 201 and the later merge fails
     * only in its log, so the method is checked against the repository first. 405 "Please try again later"
     * (mergeability still being computed) is retried for a bounded time; every other 405 is final.
     */
    async enableAutoMerge(pull, requested) {
        const allowed = await (0, merge_1.repositoryMergeMethods)(this.api, this.path, [
            ['merge', 'allow_merge_commits'],
            ['rebase', 'allow_rebase'],
            ['rebase-merge', 'allow_rebase_explicit'],
            ['squash', 'allow_squash_merge'],
            ['fast-forward-only', 'allow_fast_forward_only_merge']
        ], 'default_merge_style');
        const method = (0, merge_1.chooseMergeMethod)(requested, allowed, `${this.owner}/${this.repo}`);
        const retries = this.options.mergeRetries ?? 10;
        const maxDelay = this.options.mergeRetryMaxDelayMs ?? 15000;
        for (let attempt = 1;; attempt++) {
            try {
                await this.api.request('Scheduling auto-merge', 'POST', `${this.path}/pulls/${pull.number}/merge`, {
                    Do: method ?? 'merge',
                    merge_when_checks_succeed: true
                });
                return method ?? 'merge';
            }
            catch (e) {
                // Forgejo >= 8 answers 409 when it is already scheduled.
                if (e instanceof http_1.ForgeError && e.status === 409)
                    return method ?? 'merge';
                if (!(e instanceof http_1.ForgeError) || e.status !== 405)
                    throw e;
                if (NOT_YET_MERGEABLE.test(e.forgeMessage)) {
                    if (attempt < retries) {
                        await (0, retry_1.sleep)((0, retry_1.backoff)(attempt, this.options.baseDelayMs ?? 1000, maxDelay));
                        continue;
                    }
                    throw new forge_1.AutoMergeRefusal(`${e.message} (still after ${attempt} attempts): Forgejo had not finished checking whether pull request #${pull.number} can be merged; schedule the merge by hand or run again`);
                }
                const hint = MERGE_REFUSAL_HINTS.find(([re]) => re.test(e.forgeMessage))?.[1];
                throw new forge_1.AutoMergeRefusal(`${e.message}${hint ? `: ${hint}` : ''}`);
            }
        }
    }
    /**
     * Every comment in one answer: Forgejo's ListIssueComments (routers/api/v1/repo/issue_comment.go) takes only
     * `since` and `before`, no page or limit, and answers with all the issue's comments, oldest first.
     */
    async listComments(number) {
        const r = await this.api.request('Listing the pull request comments', 'GET', `${this.path}/issues/${number}/comments`);
        return (0, shape_1.needList)(r).map((c, i) => (0, shape_1.readComment)(r, c, `comment ${i + 1}`));
    }
}
exports.ForgejoForge = ForgejoForge;


/***/ }),

/***/ 932:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.GitHubForge = void 0;
const http_1 = __nccwpck_require__(2847);
const forge_1 = __nccwpck_require__(6576);
const people_1 = __nccwpck_require__(3364);
const rest_forge_1 = __nccwpck_require__(11);
const merge_1 = __nccwpck_require__(6279);
const shape_1 = __nccwpck_require__(1682);
/** A pull request from GitHub's JSON, with the GraphQL node id auto-merge needs. */
function readPull(r, v, where) {
    const nodeId = (0, shape_1.isRecord)(v) ? v.node_id : undefined;
    return { ...(0, shape_1.readPullFields)(r, v, where), nodeId: typeof nodeId === 'string' ? nodeId : undefined };
}
/** What each auto-merge refusal of GitHub's GraphQL API means, and what to change. */
const AUTO_MERGE_HINTS = [
    [
        /clean status/i,
        base => `the pull request can already be merged, since '${base}' requires no status check to pass: GitHub enables auto-merge only while required checks are pending. Require a check in '${base}''s branch protection, or merge by hand`
    ],
    [
        /protected branch rules not configured/i,
        base => `'${base}' has no branch protection rule: auto-merge needs one that requires status checks`
    ],
    [
        /merge method .* not allowed|not allowed .* merge method/i,
        () => "the repository does not allow this merge method: set 'merge-method' to one it allows, or to auto with a token that can read the repository's settings"
    ],
    [
        /auto merge is not allowed/i,
        () => 'enable "Allow auto-merge" in the repository settings (General, Pull Requests)'
    ],
    [
        /resource not accessible|must have (admin|write|push)/i,
        () => "the token may not merge: use a PAT or app token with contents and pull-requests write (the workflow's automatic token cannot enable auto-merge on its own pull requests)"
    ]
];
const GRAPHQL_METHOD = { merge: 'MERGE', squash: 'SQUASH', rebase: 'REBASE' };
/** GitHub's REST API (and its GraphQL API for auto-merge and signed commits, which have no REST endpoint). */
class GitHubForge extends rest_forge_1.RestForge {
    kind = 'github';
    graphql;
    constructor(apiUrl, token, owner, repo, serverUrl, graphqlUrl, options = {}) {
        super(new http_1.ApiClient(apiUrl, token, options), owner, repo, serverUrl);
        this.graphql = new http_1.ApiClient(graphqlUrl, token, options);
    }
    async findOpenPull(head, base) {
        const query = new URLSearchParams({ head: `${this.owner}:${head}`, base, state: 'open', per_page: '100' });
        const r = await this.api.request('Finding the open pull request', 'GET', `${this.path}/pulls?${query.toString()}`);
        const list = (0, shape_1.needList)(r).map((p, i) => readPull(r, p, `entry ${i + 1}`));
        return list.find(p => p.head === head && p.base === base && p.state === 'open');
    }
    async createPull(pull) {
        try {
            const r = await this.api.request('Creating the pull request', 'POST', `${this.path}/pulls`, {
                head: pull.head,
                base: pull.base,
                title: pull.title,
                body: pull.body,
                maintainer_can_modify: true
            });
            return { pull: readPull(r, r.body), created: true };
        }
        catch (e) {
            // It exists: either another run opened it between our search and our create, or an earlier attempt of
            // this very request timed out after GitHub acted on it (then it is ours).
            if (e instanceof http_1.ForgeError && e.status === 422 && /already exists/i.test(e.forgeMessage)) {
                const existing = await this.findOpenPull(pull.head, pull.base);
                if (existing)
                    return { pull: existing, created: e.uncertainAttempts > 0 };
            }
            throw e;
        }
    }
    async updatePull(number, title, body) {
        const r = await this.api.request('Updating the pull request', 'PATCH', `${this.path}/pulls/${number}`, {
            title,
            body
        });
        return readPull(r, r.body);
    }
    async addLabels(number, names) {
        if (names.length === 0)
            return [];
        await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, { labels: names });
        return [];
    }
    /**
     * GitHub refuses the whole request with 422 when one name may not review (not a collaborator, the pull
     * request's author) without naming it (docs.github.com/rest/pulls/review-requests): each is then asked alone.
     */
    async requestReviewers(number, names) {
        if (names.length === 0)
            return [];
        const path = `${this.path}/pulls/${number}/requested_reviewers`;
        return (0, people_1.eachRefusal)(names, async (reviewers) => {
            await this.api.request('Requesting reviews', 'POST', path, { reviewers });
        }, e => e.status === 422);
    }
    /**
     * GitHub ignores, without an error, names that cannot be assigned (docs.github.com/rest/issues/assignees): the
     * issue it answers with tells which were taken.
     */
    async addAssignees(number, names) {
        if (names.length === 0)
            return [];
        const r = await this.api.request('Assigning the pull request', 'POST', `${this.path}/issues/${number}/assignees`, { assignees: names });
        if (!(0, shape_1.isRecord)(r.body) || !Array.isArray(r.body.assignees))
            throw (0, shape_1.shapeError)(r, 'the issue has no assignees list');
        const taken = new Set((0, people_1.logins)(r.body.assignees).map(l => l.toLowerCase()));
        return names
            .filter(n => !taken.has(n.toLowerCase()))
            .map(name => ({
            name,
            reason: `GitHub did not assign it: the account does not exist or has no access to ${this.owner}/${this.repo}`
        }));
    }
    async createBranch(name, sha) {
        await this.api.request('Creating a branch', 'POST', `${this.path}/git/refs`, {
            ref: `refs/heads/${name}`,
            sha
        });
    }
    async deleteBranch(name) {
        const ref = name.split('/').map(encodeURIComponent).join('/');
        await this.api.request('Deleting a branch', 'DELETE', `${this.path}/git/refs/heads/${ref}`);
    }
    /**
     * GraphQL createCommitOnBranch (docs.github.com/graphql/reference/mutations#createcommitonbranch): file
     * contents in base64, `expectedHeadOid` the branch's current tip (the commit is refused otherwise). GitHub signs
     * the commit and shows it as verified.
     */
    async commitFile(change) {
        const query = 'mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }';
        const input = {
            branch: { repositoryNameWithOwner: `${this.owner}/${this.repo}`, branchName: change.branch },
            message: { headline: change.headline, body: change.body },
            fileChanges: {
                additions: change.files.map(f => ({
                    path: f.path,
                    contents: Buffer.from(f.content).toString('base64')
                }))
            },
            expectedHeadOid: change.expectedHeadOid
        };
        const r = await this.graphql.request('Creating the commit through the API', 'POST', '', {
            query,
            variables: { input }
        });
        if (!(0, shape_1.isRecord)(r.body))
            throw (0, shape_1.shapeError)(r, 'a GraphQL answer object was expected');
        const errors = Array.isArray(r.body.errors) ? r.body.errors : [];
        if (errors.length > 0) {
            const text = errors
                .map(e => ((0, shape_1.isRecord)(e) && typeof e.message === 'string' ? e.message : JSON.stringify(e)))
                .join('; ');
            throw new Error(`Creating the commit through the API failed: ${text}. It needs a token that may write the repository's contents (contents: write)`);
        }
        return (0, shape_1.need)(r, r.body, 'data.createCommitOnBranch.commit.oid', 'string');
    }
    async enableAutoMerge(pull, requested) {
        if (!pull.nodeId)
            throw new Error(`Pull request #${pull.number} has no node id: cannot enable auto-merge`);
        if (requested !== 'auto' && !(requested in GRAPHQL_METHOD)) {
            throw new Error(`Input 'merge-method' ${requested} exists on Forgejo only; GitHub has merge, squash and rebase`);
        }
        // GitHub has no default method; the flags are only present for tokens that may see the settings.
        const allowed = await (0, merge_1.repositoryMergeMethods)(this.api, this.path, [
            ['merge', 'allow_merge_commit'],
            ['squash', 'allow_squash_merge'],
            ['rebase', 'allow_rebase_merge']
        ]);
        const method = (0, merge_1.chooseMergeMethod)(requested, allowed, `${this.owner}/${this.repo}`);
        // Without a method GitHub uses MERGE; it is only left out when the repository's settings could not be read.
        const query = method
            ? 'mutation($id: ID!, $method: PullRequestMergeMethod!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) { pullRequest { number } } }'
            : 'mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } } }';
        const r = await this.graphql.request('Enabling auto-merge', 'POST', '', {
            query,
            variables: method ? { id: pull.nodeId, method: GRAPHQL_METHOD[method] } : { id: pull.nodeId }
        });
        if (!(0, shape_1.isRecord)(r.body))
            throw (0, shape_1.shapeError)(r, 'a GraphQL answer object was expected');
        const errors = Array.isArray(r.body.errors) ? r.body.errors : [];
        if (errors.length > 0) {
            const text = errors
                .map(e => ((0, shape_1.isRecord)(e) && typeof e.message === 'string' ? e.message : JSON.stringify(e)))
                .join('; ');
            const hint = AUTO_MERGE_HINTS.find(([re]) => re.test(text))?.[1](pull.base);
            throw new forge_1.AutoMergeRefusal(`Enabling auto-merge failed: ${text}${hint ? `: ${hint}` : '. Auto-merge needs "Allow auto-merge" in the repository settings and a token that may merge (a PAT or app token; the automatic token of a workflow may not).'}`);
        }
        (0, shape_1.need)(r, r.body, 'data.enablePullRequestAutoMerge.pullRequest', 'object');
        return method;
    }
    /**
     * Pages through the comments (docs.github.com/rest/issues/comments#list-issue-comments: `per_page` up to 100,
     * oldest first), following the `rel="next"` Link GitHub sends while there are more.
     */
    async listComments(number) {
        const out = [];
        for (let page = 1; page <= 100; page++) {
            const query = new URLSearchParams({ per_page: '100', page: String(page) });
            const r = await this.api.request('Listing the pull request comments', 'GET', `${this.path}/issues/${number}/comments?${query.toString()}`);
            const list = (0, shape_1.needList)(r);
            out.push(...list.map((c, i) => (0, shape_1.readComment)(r, c, `comment ${out.length + i + 1}`)));
            if (!/rel="next"/.test(r.headers.get('link') ?? '') || list.length === 0)
                break;
        }
        return out;
    }
}
exports.GitHubForge = GitHubForge;


/***/ }),

/***/ 2847:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.ApiClient = exports.ForgeError = void 0;
const retry_1 = __nccwpck_require__(9809);
/** A forge API error: the operation, the URL path, the status and the forge's own message (never the token). */
class ForgeError extends Error {
    operation;
    method;
    path;
    status;
    forgeMessage;
    body;
    /** Earlier attempts whose outcome is unknown (see ApiResponse.uncertainAttempts). */
    uncertainAttempts = 0;
    constructor(operation, method, path, status, forgeMessage, body) {
        super(`${operation} failed: ${method} ${path} answered ${status === undefined ? 'nothing' : status}${forgeMessage ? `: ${forgeMessage}` : ''}`);
        this.operation = operation;
        this.method = method;
        this.path = path;
        this.status = status;
        this.forgeMessage = forgeMessage;
        this.body = body;
    }
}
exports.ForgeError = ForgeError;
/** Same-origin redirects followed at most this many times per attempt. */
const MAX_REDIRECTS = 5;
function messageOf(body, raw) {
    if (body && typeof body === 'object') {
        const o = body;
        const parts = [];
        if (typeof o.message === 'string')
            parts.push(o.message);
        if (Array.isArray(o.errors)) {
            for (const e of o.errors) {
                if (e && typeof e === 'object' && typeof e.message === 'string') {
                    parts.push(e.message);
                }
                else if (typeof e === 'string')
                    parts.push(e);
            }
        }
        if (parts.length > 0)
            return parts.join('; ');
    }
    return raw.replace(/\s+/g, ' ').trim().slice(0, 300);
}
/** A small JSON client: token in the header only, retries with backoff, every error naming what failed. */
class ApiClient {
    baseUrl;
    token;
    attempts;
    baseDelayMs;
    maxDelayMs;
    timeoutMs;
    secondaryWaitMs;
    wait;
    constructor(baseUrl, token, options = {}) {
        this.baseUrl = baseUrl;
        this.token = token;
        this.attempts = options.attempts ?? 4;
        this.baseDelayMs = options.baseDelayMs ?? 1000;
        this.maxDelayMs = options.maxDelayMs ?? 30000;
        this.timeoutMs = options.timeoutMs ?? 30000;
        this.secondaryWaitMs = options.secondaryRateLimitWaitMs ?? 60000;
        this.wait = options.wait ?? retry_1.sleep;
    }
    /**
     * Sends one API request (`path` is relative to the API base and names the request in messages), retrying
     * what may pass: network errors, 5xx, 429, and 403s that are rate limits.
     */
    async request(operation, method, path, body) {
        let lastError;
        let uncertain = 0;
        let waitedForSecondaryLimit = false;
        const fail = (status, message, answer) => {
            const e = new ForgeError(operation, method, path, status, message, answer);
            e.uncertainAttempts = uncertain;
            return e;
        };
        for (let attempt = 1; attempt <= this.attempts; attempt++) {
            let response;
            try {
                response = await this.send(operation, method, path, body);
            }
            catch (e) {
                if (e instanceof ForgeError)
                    throw e;
                const reason = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
                // A request that timed out or lost its connection may have been carried out all the same.
                if (method !== 'GET')
                    uncertain++;
                lastError = fail(undefined, `network error: ${reason}`, undefined);
                if (attempt < this.attempts)
                    await this.wait(this.delay(attempt));
                continue;
            }
            let raw = '';
            try {
                raw = await response.text();
            }
            catch (e) {
                if (method !== 'GET')
                    uncertain++;
                lastError = fail(response.status, `reading the answer failed: ${String(e)}`, undefined);
                if (attempt < this.attempts)
                    await this.wait(this.delay(attempt));
                continue;
            }
            let parsed = undefined;
            let parseFailed = false;
            if (raw !== '') {
                try {
                    parsed = JSON.parse(raw);
                }
                catch {
                    parseFailed = true;
                }
            }
            if (response.ok && parseFailed) {
                throw fail(response.status, `the answer is not JSON: ${raw.slice(0, 200)}`, raw);
            }
            if (response.ok) {
                return {
                    status: response.status,
                    headers: response.headers,
                    body: parsed,
                    operation,
                    method,
                    path,
                    uncertainAttempts: uncertain
                };
            }
            lastError = fail(response.status, messageOf(parsed, raw), parsed ?? raw);
            if (isUntimedSecondaryLimit(response, lastError.forgeMessage)) {
                // GitHub: "If the retry-after response header is not present and x-ratelimit-remaining is not 0, wait
                // for at least one minute before retrying" (docs.github.com, Rate limits for the REST API). Once: a
                // second one fails the request. It is not one of the counted attempts.
                if (waitedForSecondaryLimit) {
                    throw fail(response.status, `${lastError.forgeMessage} (again after waiting ${Math.round(this.secondaryWaitMs / 1000)} s; run the workflow later, and keep runs from overlapping with a concurrency group)`, parsed ?? raw);
                }
                waitedForSecondaryLimit = true;
                await this.wait(this.secondaryWaitMs);
                attempt--;
                continue;
            }
            if (!retryable(response) || attempt === this.attempts)
                throw lastError;
            // A proxy's 502 or 504 does not say whether the forge behind it carried the request out.
            if (method !== 'GET' && response.status >= 500)
                uncertain++;
            await this.wait(this.delay(attempt, response.headers));
        }
        throw lastError ?? fail(undefined, 'no attempt made', undefined);
    }
    /**
     * One attempt, following redirects by hand: a redirect to another origin would carry the token and the
     * request body to a host nobody configured, so it is refused, naming where it pointed.
     */
    async send(operation, method, path, body) {
        let url = new URL(`${this.baseUrl}${path}`);
        const origin = url.origin;
        for (let hop = 0;; hop++) {
            const response = await fetch(url, {
                method,
                headers: {
                    Accept: 'application/json',
                    Authorization: `token ${this.token}`,
                    'User-Agent': 'nixos-fleet-update',
                    ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
                },
                body: body === undefined ? undefined : JSON.stringify(body),
                redirect: 'manual',
                signal: AbortSignal.timeout(this.timeoutMs)
            });
            const location = response.headers.get('location');
            if (response.status < 300 || response.status >= 400 || location === null)
                return response;
            await response.body?.cancel().catch(() => undefined);
            let target;
            try {
                target = new URL(location, url);
            }
            catch {
                throw new ForgeError(operation, method, path, response.status, `redirected to an invalid location ${JSON.stringify(location.slice(0, 200))}: not followed`, undefined);
            }
            const shown = `${target.origin}${target.pathname}`;
            if (target.origin !== origin) {
                throw new ForgeError(operation, method, path, response.status, `redirected to another origin, ${shown}: not followed (the token and the request are only sent to ${origin}; set 'api-url' to the forge's real address if it moved)`, undefined);
            }
            // 301/302/303 turn a POST into a GET in browsers; an API write must not silently become a read.
            if (method !== 'GET' && response.status !== 307 && response.status !== 308) {
                throw new ForgeError(operation, method, path, response.status, `redirected to ${shown}: a ${method} is only followed through a 307 or 308`, undefined);
            }
            if (hop >= MAX_REDIRECTS) {
                throw new ForgeError(operation, method, path, response.status, `more than ${MAX_REDIRECTS} redirects`, undefined);
            }
            url = target;
        }
    }
    delay(attempt, headers) {
        const retryAfter = headers?.get('retry-after');
        if (retryAfter) {
            const seconds = Number(retryAfter);
            const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
            if (Number.isFinite(ms) && ms >= 0)
                return Math.min(ms, this.maxDelayMs);
        }
        // GitHub's rate limits name the moment the window resets, in epoch seconds.
        const reset = headers?.get('x-ratelimit-reset');
        if (reset && headers?.get('x-ratelimit-remaining') === '0') {
            const ms = Number(reset) * 1000 - Date.now();
            if (Number.isFinite(ms))
                return Math.min(Math.max(ms, 0), this.maxDelayMs);
        }
        return (0, retry_1.backoff)(attempt, this.baseDelayMs, this.maxDelayMs);
    }
}
exports.ApiClient = ApiClient;
/** A secondary rate limit (403 or 429) that says neither when to retry nor that the quota is used up. */
function isUntimedSecondaryLimit(response, message) {
    if (response.status !== 403 && response.status !== 429)
        return false;
    if (response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0')
        return false;
    return /secondary rate limit/i.test(message);
}
/**
 * Whether another attempt may succeed: 5xx, 429, and GitHub's rate-limit 403s (they carry Retry-After or
 * `x-ratelimit-remaining: 0`); any other 403 is a permission and final.
 */
function retryable(response) {
    if (response.status >= 500 || response.status === 429)
        return true;
    if (response.status !== 403)
        return false;
    return response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0';
}


/***/ }),

/***/ 2417:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.detectForge = detectForge;
/** The forge of the runner: forgejo-runner sets FORGEJO_ACTIONS (runner 7 and later) or GITEA_ACTIONS. */
function detectForge(env) {
    return env.FORGEJO_ACTIONS === 'true' || (env.GITEA_ACTIONS ?? '') !== '' ? 'forgejo' : 'github';
}


/***/ }),

/***/ 6279:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.MergeMethodError = exports.FORGEJO_MERGE_METHODS = exports.GITHUB_MERGE_METHODS = void 0;
exports.chooseMergeMethod = chooseMergeMethod;
exports.repositoryMergeMethods = repositoryMergeMethods;
const shape_1 = __nccwpck_require__(1682);
exports.GITHUB_MERGE_METHODS = ['merge', 'squash', 'rebase'];
// Forgejo's own order (its merge button and MergeStyle constants).
exports.FORGEJO_MERGE_METHODS = [
    'merge',
    'rebase',
    'rebase-merge',
    'squash',
    'fast-forward-only'
];
/** The input asks for a method the repository forbids, or the repository allows none: a configuration error. */
class MergeMethodError extends Error {
}
exports.MergeMethodError = MergeMethodError;
/**
 * The method to send: the one asked for when the repository allows it (or does not say), for `auto` the
 * repository's default when allowed, else the first allowed one; undefined leaves it to the forge's default.
 */
function chooseMergeMethod(requested, repo, repoName) {
    const { allowed, preferred } = repo;
    if (allowed === undefined)
        return requested === 'auto' ? preferred : requested;
    if (allowed.length === 0) {
        throw new MergeMethodError(`${repoName} allows no merge method for pull requests: auto-merge cannot work`);
    }
    if (requested === 'auto')
        return preferred && allowed.includes(preferred) ? preferred : allowed[0];
    if (allowed.includes(requested))
        return requested;
    throw new MergeMethodError(`Input 'merge-method' is ${requested}, which ${repoName} does not allow; it allows: ${allowed.join(', ')} (or use auto)`);
}
/**
 * `GET /repos/{o}/{r}` read for its merge settings: `flags` pairs each method with the boolean field that allows
 * it, `defaultField` names the field holding the default method (Forgejo's default_merge_style). No flag present
 * at all means the forge did not say.
 */
async function repositoryMergeMethods(api, repoPath, flags, defaultField) {
    const r = await api.request('Reading the repository', 'GET', repoPath);
    if (!(0, shape_1.isRecord)(r.body))
        throw (0, shape_1.shapeError)(r, 'the repository was expected as an object');
    const b = r.body;
    if (!flags.some(([, field]) => typeof b[field] === 'boolean'))
        return {};
    const preferred = defaultField ? b[defaultField] : undefined;
    return {
        allowed: flags.filter(([, field]) => b[field] === true).map(([m]) => m),
        preferred: flags.map(([m]) => m).find(m => m === preferred)
    };
}


/***/ }),

/***/ 3364:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.eachRefusal = eachRefusal;
exports.logins = logins;
const http_1 = __nccwpck_require__(2847);
/**
 * Runs `call` for all names at once; when the forge refuses the whole request because of some name (`isRefusal`)
 * without saying which one, asks for each name alone, so that the others still get through and the refused
 * ones can be named.
 */
async function eachRefusal(names, call, isRefusal) {
    const refusal = (e) => e instanceof http_1.ForgeError && isRefusal(e) ? e : undefined;
    try {
        await call(names);
        return [];
    }
    catch (e) {
        const r = refusal(e);
        if (!r)
            throw e;
        if (names.length === 1)
            return [{ name: names[0], reason: r.forgeMessage || `answered ${r.status}` }];
    }
    const refused = [];
    for (const name of names) {
        try {
            await call([name]);
        }
        catch (e) {
            const r = refusal(e);
            if (!r)
                throw e;
            refused.push({ name, reason: r.forgeMessage || `answered ${r.status}` });
        }
    }
    return refused;
}
/** The `login` of each user object in a list (both forges name the account `login`). */
function logins(list) {
    if (!Array.isArray(list))
        return [];
    return list
        .map(u => (typeof u === 'object' && u !== null ? u.login : undefined))
        .filter((l) => typeof l === 'string');
}


/***/ }),

/***/ 11:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.RestForge = void 0;
/**
 * What GitHub and Forgejo take and answer alike under `/repos/OWNER/REPO`: a pull request's comments, commit
 * statuses and the compare page. Both forges' clients extend this.
 */
const forge_1 = __nccwpck_require__(6576);
const shape_1 = __nccwpck_require__(1682);
class RestForge {
    api;
    owner;
    repo;
    serverUrl;
    constructor(api, owner, repo, serverUrl) {
        this.api = api;
        this.owner = owner;
        this.repo = repo;
        this.serverUrl = serverUrl;
    }
    get path() {
        return (0, forge_1.repoPath)(this.owner, this.repo);
    }
    /** `POST …/issues/{number}/comments` with {body}: 201 and the comment (both forges' REST references). */
    async createComment(number, body) {
        const r = await this.api.request('Commenting on the pull request', 'POST', `${this.path}/issues/${number}/comments`, {
            body
        });
        return (0, shape_1.readComment)(r, r.body);
    }
    /** `PATCH …/issues/comments/{id}` with {body}: 200 and the edited comment. */
    async editComment(id, body) {
        const r = await this.api.request('Editing the comment', 'PATCH', `${this.path}/issues/comments/${id}`, {
            body
        });
        return (0, shape_1.readComment)(r, r.body);
    }
    /**
     * `POST …/statuses/{sha}` with {state, target_url, description, context}: 201. GitHub's "Create a commit status"
     * (states error, failure, pending, success) and Forgejo's CreateStatusOption take the same body, although the
     * status Forgejo answers with names the state `status` (structs.CommitStatus).
     */
    async postStatus(sha, status) {
        await this.api.request('Posting a commit status', 'POST', `${this.path}/statuses/${sha}`, {
            state: status.state,
            context: status.context,
            description: status.description,
            ...(status.targetUrl ? { target_url: status.targetUrl } : {})
        });
    }
    /** The web page comparing the branches; both forges use `/OWNER/REPO/compare/BASE...HEAD`. */
    compareUrl(base, head) {
        return (0, forge_1.compareLink)(this.serverUrl, this.owner, this.repo, base, head);
    }
}
exports.RestForge = RestForge;


/***/ }),

/***/ 1682:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.shapeError = shapeError;
exports.need = need;
exports.needList = needList;
exports.isRecord = isRecord;
exports.readPullFields = readPullFields;
exports.readComment = readComment;
const http_1 = __nccwpck_require__(2847);
/** An answer that parsed but lacks what the action reads: names the operation, the path and the field. */
function shapeError(r, problem) {
    return new http_1.ForgeError(r.operation, r.method, r.path, r.status, `unexpected answer: ${problem}`, r.body);
}
const article = (kind) => (kind === 'object' ? 'an object' : `a ${kind}`);
function need(r, value, dotted, kind, where = 'the answer') {
    let cur = value;
    for (const key of dotted.split('.')) {
        cur = isRecord(cur) ? cur[key] : undefined;
    }
    const ok = kind === 'object' ? isRecord(cur) : typeof cur === kind;
    if (!ok) {
        const got = cur === undefined ? 'missing' : cur === null ? 'null' : `${typeof cur}`;
        throw shapeError(r, `${where} has no ${dotted} (${article(kind)} expected, ${got})`);
    }
    return cur;
}
/** The answer as a list, or an error naming the request. */
function needList(r) {
    if (!Array.isArray(r.body))
        throw shapeError(r, `a list was expected, got ${describe(r.body)}`);
    return r.body;
}
function isRecord(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function describe(v) {
    if (v === undefined)
        return 'an empty answer';
    if (v === null)
        return 'null';
    if (Array.isArray(v))
        return 'a list';
    return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
/** The pull request fields both forges name alike (`html_url`, `head.ref`, ...), every one checked. */
function readPullFields(r, v, where) {
    const body = isRecord(v) ? v.body : undefined;
    return {
        number: need(r, v, 'number', 'number', where),
        url: need(r, v, 'html_url', 'string', where),
        title: need(r, v, 'title', 'string', where),
        // GitHub sends null for an empty body.
        body: typeof body === 'string' ? body : '',
        state: need(r, v, 'state', 'string', where) === 'open' ? 'open' : 'closed',
        head: need(r, v, 'head.ref', 'string', where),
        base: need(r, v, 'base.ref', 'string', where)
    };
}
/** An issue comment: `id`, `html_url` and `body` are named alike on both forges. */
function readComment(r, v, where) {
    const body = isRecord(v) ? v.body : undefined;
    return {
        id: need(r, v, 'id', 'number', where),
        url: need(r, v, 'html_url', 'string', where),
        body: typeof body === 'string' ? body : ''
    };
}


/***/ }),

/***/ 8367:
/***/ ((__unused_webpack_module, exports) => {


// Generated from action.yml by scripts/generate.ts (npm run generate): edit action.yml, not this file.
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.OUTPUTS = exports.INPUTS = void 0;
exports.INPUTS = {
    "flake": {
        "description": "Directory of the flake in the checkout (holds `flake.nix` and `flake.lock`). Must be inside the workspace. Several directories of one repository, one a line or comma-separated (`.`, `lab`): mode update updates, builds and diffs each, then makes one commit with every changed lock and one pull request with a part per flake; in the list outputs every name is then prefixed with its flake's directory and `#` (`./lab#web`). The other modes take one directory.",
        "default": ".",
        "type": "string"
    },
    "configurations": {
        "description": "The flake output whose entries are built: `nixosConfigurations` (each entry's `config.system.build.toplevel`), `homeConfigurations` (home-manager, each entry's `activationPackage`) or `darwinConfigurations` (nix-darwin, each entry's `system`). An entry for a system that neither this machine nor a remote builder builds is evaluated only and reported as not buildable here, never as a failure.",
        "default": "nixosConfigurations",
        "type": "string"
    },
    "hosts": {
        "description": "Hosts to build, separated by spaces, commas or newlines. Empty means every `nixosConfigurations` entry. Unknown names are an error. With several flakes, a name selects that host in every flake that has it and `./lab#web` the host of one flake; a flake with none of the hosts named keeps its lock.",
        "default": "",
        "type": "string"
    },
    "exclude-hosts": {
        "description": "Regular expression matched against the whole host name (as `builtins.match` anchors it); matching hosts are left out. `^$` keeps every host.",
        "default": ".*-minimal",
        "type": "string"
    },
    "update-inputs": {
        "description": "Flake inputs to update (`nixpkgs home-manager`), separated by spaces, commas or newlines. Empty means all inputs. `!name` entries update every top-level input but those (`!nixpkgs-stable`); names and `!` entries cannot be mixed. Names that are not in `flake.lock` are an error.",
        "default": "",
        "type": "string"
    },
    "base-branch": {
        "description": "Branch the pull request targets. Empty means the repository's default branch from the event payload, else the current branch, else `main`. It is never written to.",
        "default": "",
        "type": "string"
    },
    "branch": {
        "description": "Branch that carries the update; `{date}` expands to the UTC date (`auto/flake-update-{date}`). Must differ from the base branch.",
        "default": "auto/flake-update",
        "type": "string"
    },
    "api-url": {
        "description": "REST API base URL of the forge, e.g. `https://codeberg.org/api/v1`. Empty means `GITHUB_API_URL`, else `GITHUB_SERVER_URL` + `/api/v1` on Forgejo.",
        "default": "",
        "type": "string"
    },
    "token": {
        "description": "Token for pushing the branch and calling the forge API; masked in the log. See the README for the permissions it needs.",
        "default": "${{ github.token }}",
        "type": "string"
    },
    "forge": {
        "description": "Which forge API to use: `github`, `forgejo` (also for Gitea) or `auto` (Forgejo/Gitea when `FORGEJO_ACTIONS=true` or `GITEA_ACTIONS` is set, else GitHub).",
        "default": "auto",
        "type": "string"
    },
    "signing-key": {
        "description": "Key that signs the update commit, from a secret: an OpenSSH private key without passphrase (git's `gpg.format ssh`), or an armored OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`, signed with gpg in a keyring of its own; needs gpg on the runner).",
        "default": "",
        "type": "string"
    },
    "signing-key-passphrase": {
        "description": "Passphrase of an OpenPGP signing-key, from a secret. It reaches gpg on standard input only, never a command line or a file.",
        "default": "",
        "type": "string"
    },
    "git-user-name": {
        "description": "Author and committer name of the update commit.",
        "default": "nixos-fleet-update",
        "type": "string"
    },
    "git-user-email": {
        "description": "Author and committer e-mail of the update commit.",
        "default": "nixos-fleet-update@users.noreply.localhost",
        "type": "string"
    },
    "commit-message": {
        "description": "Subject of the update commit; `{date}` expands to the UTC date. The body lists the changed inputs.",
        "default": "chore: update flake inputs {date}",
        "type": "string"
    },
    "commit-via-api": {
        "description": "GitHub only: make the commit through GitHub's API (GraphQL createCommitOnBranch) instead of pushing one made here, so that GitHub signs it and shows it as verified, without a signing key. The token's account is the author (git-user-name and git-user-email do not apply). Cannot be combined with signing-key.",
        "default": "false",
        "type": "boolean"
    },
    "pr-title": {
        "description": "Title of the pull request; `{date}` expands to the UTC date.",
        "default": "chore: update flake inputs {date}",
        "type": "string"
    },
    "pr-labels": {
        "description": "Label names for the pull request, separated by commas or newlines.",
        "default": "",
        "type": "string"
    },
    "pr-reviewers": {
        "description": "Accounts asked to review the pull request, separated by spaces, commas or newlines (`alice bob`), when it is opened and on each update that pushes a new commit. A name the forge refuses (no access, the token's own account) is a warning naming it; the run goes on. Users only, no teams.",
        "default": "",
        "type": "string"
    },
    "pr-assignees": {
        "description": "Accounts the pull request is assigned to, separated by spaces, commas or newlines, when it is opened and on each update that pushes a new commit; assignees someone added stay. A name the forge refuses is a warning naming it.",
        "default": "",
        "type": "string"
    },
    "auto-merge": {
        "description": "Ask the forge to merge the pull request once its checks pass.",
        "default": "false",
        "type": "boolean"
    },
    "merge-method": {
        "description": "How auto-merge merges: `auto` (the repository's default merge style, else the first one it allows), `merge`, `squash` or `rebase`; on Forgejo also `rebase-merge` and `fast-forward-only`. A method the repository does not allow fails the step, naming the ones it allows.",
        "default": "auto",
        "type": "string"
    },
    "build": {
        "description": "Build every host before and after the update and diff them. `false` updates the lock only.",
        "default": "true",
        "type": "boolean"
    },
    "nix-args": {
        "description": "Extra arguments for every Nix call, split like a shell would (no shell runs them): `--max-jobs 4`, `--builders 'ssh://builder x86_64-linux'`, `--option NAME VALUE`. They go to `nix` and `nix-store` alike, so use settings flags, not `nix build`-only flags such as `-L`.",
        "default": "",
        "type": "string"
    },
    "eval-memory": {
        "description": "Memory in MiB that the evaluation processes may use together; each of them is killed past its share, and a host that cannot be evaluated within the whole budget is reported as failing. Empty means half of the memory available when the step starts.",
        "default": "",
        "type": "string"
    },
    "eval-workers": {
        "description": "Evaluation processes at once. Empty means one per CPU core (fewer when the memory budget is small).",
        "default": "",
        "type": "string"
    },
    "eval-chunk-size": {
        "description": "Hosts per evaluation process. Empty means chosen from what the first two processes measure: light hosts in one process, heavy ones in chunks that grow while the memory each process is seen to use leaves room under half of its share of eval-memory.",
        "default": "",
        "type": "string"
    },
    "fail-on-regression": {
        "description": "Fail the step (after every output and the summary are written) when a host that built before fails after.",
        "default": "true",
        "type": "boolean"
    },
    "dry-run": {
        "description": "Build, diff and report, then put `flake.lock` back: nothing is committed, pushed or opened.",
        "default": "false",
        "type": "boolean"
    },
    "push-to": {
        "description": "Nix store URL of a binary cache (file:///dir, s3://bucket?region=..., ssh-ng://user@host, ...). After the build, every host's new system and its closure is copied there, signed; the builds also fetch from it. Empty means no binary cache.",
        "default": "",
        "type": "string"
    },
    "push-signing-key": {
        "description": "Nix secret signing key (NAME:BASE64, from nix-store --generate-binary-cache-key) that signs what is pushed. Required with push-to. Pass it from a secret.",
        "default": "",
        "type": "string"
    },
    "push-public-key": {
        "description": "Public keys the builds trust for paths from push-to, separated by spaces. Default: the signing key's own. It must include that key (a check that the secret matches what the hosts trust).",
        "default": "",
        "type": "string"
    },
    "push-required": {
        "description": "Fail the step, and open no pull request, when the push to push-to fails. Default - warn and go on.",
        "default": "false",
        "type": "boolean"
    },
    "stale-after": {
        "description": "How long a host may go without reporting, or without deploying a newer commit of the base branch, before the \"Fleet state\" section and the stale-hosts output flag it (hosts report with the NixOS module's reportStatus). A duration such as 2d, 36h or 90m.",
        "default": "2d",
        "type": "string"
    },
    "mode": {
        "description": "What the run does: `update` (update flake.lock, build before and after, open the pull request), `review` (build a pull request's base and head commits, comment the difference on it, set the commit status nixos-fleet-update/review), `cache` (build the checked-out commit and push it to push-to) or `rollout` (no build, no update: read the hosts' reports and each host's rollout wave, and post the `nixos-rollout/wave-N` commit statuses that let the next wave deploy a commit). Empty means chosen from the event - review on pull_request, cache on a push to the base branch when push-to is set, update otherwise.",
        "default": "",
        "type": "string"
    },
    "review-base": {
        "description": "Commit a review compares from (a sha, branch or tag). Empty means the pull_request event's base. Set it with review-head.",
        "default": "",
        "type": "string"
    },
    "review-head": {
        "description": "Commit a review compares to (a sha, branch or tag). Empty means the pull_request event's head. Set it with review-base.",
        "default": "",
        "type": "string"
    },
    "rollout-soak": {
        "description": "With `mode: rollout`, how long every host of the lower waves must have run a commit (since its first successful report on it or a later commit) before the next wave gets it. A duration such as 6h, 1d or 90m, or 0.",
        "default": "6h",
        "type": "string"
    },
    "rollout-require-all": {
        "description": "With `mode: rollout`, a host of a lower wave that never reported blocks the waves above it. Default - such hosts are listed in the report and do not block.",
        "default": "false",
        "type": "boolean"
    },
    "attribution-max-builds": {
        "description": "When hosts that built before the update fail after it and several inputs changed, at most this many extra builds of those hosts find the inputs that break them (each changed input held back in turn). 0 turns the search off. With one changed input it is named without a build.",
        "default": "10",
        "type": "string"
    },
    "hold-back": {
        "description": "`regressing`: the pull request's flake.lock keeps the inputs that break hosts at their old revision and updates the rest (no pull request when nothing is left to update); `none`: it updates every input.",
        "default": "regressing",
        "type": "string"
    },
    "bisect": {
        "description": "Search the history of each breaking git-based input (github:, gitlab:, sourcehut:, git+…) for the first bad commit, building the broken hosts at revisions in between.",
        "default": "false",
        "type": "boolean"
    },
    "bisect-max-builds": {
        "description": "Builds each bisection may take; past it the report gives the range it narrowed to.",
        "default": "8",
        "type": "string"
    }
};
exports.OUTPUTS = {
    "hosts": {
        "description": "JSON array of the hosts considered, after filtering."
    },
    "changed": {
        "description": "`true` when `flake.lock` changed, else `false`."
    },
    "updated-inputs": {
        "description": "JSON array of the inputs whose locked revision changed (nested ones as `parent/child`)."
    },
    "failed-hosts": {
        "description": "JSON array of the hosts that failed to evaluate or build after the update."
    },
    "regressed-hosts": {
        "description": "JSON array of the hosts that built before the update and fail after it."
    },
    "reboot-hosts": {
        "description": "JSON array of the hosts whose kernel, initrd or kernel modules changed: `switch` alone does not apply them."
    },
    "push-status": {
        "description": "What the push to push-to did - pushed, failed or skipped; empty when nothing was to be pushed."
    },
    "pushed-paths": {
        "description": "Number of store paths sent to push-to (those it did not have yet)."
    },
    "pushed-bytes": {
        "description": "NAR size in bytes of the store paths sent to push-to."
    },
    "stale-hosts": {
        "description": "JSON array of the hosts whose last status report is older than stale-after, or that have not deployed a base-branch commit older than stale-after. Hosts that never reported are not in it (see the report)."
    },
    "failed-upgrades": {
        "description": "JSON array of the hosts whose last status report is a failed upgrade."
    },
    "rollout-halted": {
        "description": "With `mode: rollout`, JSON `{wave, commit, hosts, reason}` when a failed upgrade or a rollback of a lower wave halts the rollout at that commit (no higher wave is gated on it or after it); empty otherwise."
    },
    "rollout-gates": {
        "description": "With `mode: rollout`, JSON array of `{wave, commit, posted}`: per wave above 0, the commit its hosts deploy (the newest one gated for it), and whether this run posted that gate."
    },
    "held-back-inputs": {
        "description": "JSON array of the inputs the pull request's lock keeps at their old revision because they break hosts: `[{\"input\", \"old\", \"new\", \"hosts\": [...], \"firstBad\"}]`."
    },
    "report": {
        "description": "The Markdown report (job summary and pull request body)."
    },
    "report-json": {
        "description": "Path of a JSON file with the structured results (per host: status, store paths, every package change, the systemd units switch would restart, reload, start or stop, evaluation warnings, errors and log tails; per input: old and new lock entries). Its fields are described in the README's \"The JSON file\"."
    },
    "branch": {
        "description": "The update branch."
    },
    "commit": {
        "description": "SHA of the update commit, when one was made."
    },
    "pr-number": {
        "description": "Number of the pull request, when one was made."
    },
    "pr-url": {
        "description": "Web URL of the pull request, when one was made."
    },
    "pr-operation": {
        "description": "What happened to the pull request: `created`, `updated`, `unchanged` or `none`."
    },
    "comment-url": {
        "description": "Web URL of the review comment on the pull request (mode review), when it could be posted."
    }
};


/***/ }),

/***/ 4110:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.REMOTE = void 0;
exports.pushCredentials = pushCredentials;
/** The remote that the checkout is pushed to and the base branch fetched from. */
exports.REMOTE = 'origin';
/**
 * Credentials for pushing: the checkout's own (an extraheader, a credential helper, a URL with a user, SSH) are
 * used as they are; otherwise the token, as an HTTP header passed through GIT_CONFIG_* variables (never on the
 * command line) and scoped to the remote's origin.
 */
async function pushCredentials(git, remoteUrl, token, mask) {
    let url;
    try {
        url = new URL(remoteUrl);
    }
    catch {
        return {}; // scp-style SSH or a local path
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
        return {};
    if (url.username || url.password)
        return {};
    // Only settings that apply to this remote count: a helper configured for another host does not.
    for (const key of ['http.extraheader', 'credential.helper']) {
        const configured = await git.exec(['config', '--get-urlmatch', key, remoteUrl]);
        if (configured.exitCode === 0 && configured.stdout.trim() !== '')
            return {};
    }
    if (!token)
        return {};
    const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
    mask(basic);
    return {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: `http.${url.origin}/.extraheader`,
        GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`
    };
}


/***/ }),

/***/ 308:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Git = exports.NETWORK_LIMITS = exports.TRAILER = void 0;
const child_process_1 = __nccwpck_require__(5317);
const io = __importStar(__nccwpck_require__(4994));
const exec_1 = __nccwpck_require__(3190);
const redact_1 = __nccwpck_require__(6670);
/** The trailer that marks the action's own commits, so a rerun knows which branch commits it may replace. */
exports.TRAILER = 'Update-Tool: nixos-fleet-update';
exports.NETWORK_LIMITS = { lowSpeedLimit: 1000, lowSpeedTime: 60, timeout: 600 };
/** Every git call goes through here: arguments as an array, credentials only through the environment. */
class Git {
    bin;
    cwd;
    env;
    limits;
    constructor(bin, cwd, env, limits) {
        this.bin = bin;
        this.cwd = cwd;
        this.env = env;
        this.limits = limits;
    }
    static async create(cwd, env = {}, limits = exports.NETWORK_LIMITS) {
        const bin = await io.which('git', false);
        if (!bin)
            throw new Error('git was not found on PATH: install git before this step');
        // A missing credential must fail, not wait for someone to type a password.
        return new Git(bin, cwd, { GIT_TERMINAL_PROMPT: '0', GCM_INTERACTIVE: 'never', ...env }, limits);
    }
    /** A runner with extra environment (e.g. credentials as GIT_CONFIG_* variables, never as arguments). */
    withEnv(env) {
        return new Git(this.bin, this.cwd, { ...this.env, ...env }, this.limits);
    }
    async exec(args, options = {}) {
        return (0, exec_1.runProcess)(this.bin, args, {
            cwd: this.cwd,
            env: { ...this.env, ...options.env },
            input: options.input,
            timeoutMs: options.timeoutSeconds === undefined ? undefined : options.timeoutSeconds * 1000
        });
    }
    /**
     * Runs a git command that talks to `remote`. Redirects are not followed: git would send the credentials (an
     * extra header) on to wherever the redirect points. A stalled HTTP transfer ends after the low-speed time, and
     * every transport after the time-out. A failure of the transport (not a refusal by the remote, which the
     * caller judges) throws, naming the operation and the remote.
     */
    async remoteExec(operation, remote, args) {
        const l = this.limits;
        const r = await this.exec([
            '-c',
            'http.followRedirects=false',
            '-c',
            `http.lowSpeedLimit=${l.lowSpeedLimit}`,
            '-c',
            `http.lowSpeedTime=${l.lowSpeedTime}`,
            ...args
        ], { timeoutSeconds: l.timeout });
        const where = () => this.describeRemote(remote);
        const said = (0, exec_1.tail)(r.stderr.trim() || r.stdout.trim(), 5);
        if (r.timedOut) {
            throw new Error(`git ${operation} with ${await where()} did not finish within ${l.timeout} s and was stopped${said ? `:\n${said}` : ''}`);
        }
        if (r.exitCode === 0)
            return r;
        const redirect = /returned error: (30[1278])/.exec(r.stderr);
        if (redirect) {
            throw new Error(`git ${operation} with ${await where()}: the remote answered with a redirect (HTTP ${redirect[1]}), which is not followed so that the credentials stay with that host; set the remote's URL to the address it redirects to`);
        }
        if (/Operation too slow|Operation timed out|Connection timed out/.test(r.stderr)) {
            throw new Error(`git ${operation} with ${await where()} stalled (less than ${l.lowSpeedLimit} bytes/s for ${l.lowSpeedTime} s, or no connection):\n${said}`);
        }
        return r;
    }
    /** remoteExec for a command whose failure is always an error: its trimmed stdout, or an error naming the remote. */
    async remoteOut(operation, remote, args) {
        const r = await this.remoteExec(operation, remote, args);
        if (r.exitCode !== 0) {
            throw new Error(`git ${operation} failed (exit ${r.exitCode}) with ${await this.describeRemote(remote)}: ${(0, exec_1.tail)(r.stderr.trim() || r.stdout.trim(), 10)}`);
        }
        return r.stdout.trim();
    }
    /** `remote 'origin' (https://host/owner/repo.git)`, without credentials. */
    async describeRemote(remote) {
        const url = await this.remoteUrl(remote);
        return `remote '${remote}'${url && url !== remote ? ` (${(0, redact_1.redactUrl)(url)})` : ''}`;
    }
    /** Runs git and returns its trimmed stdout; a failure throws with git's own message. */
    async output(args, options = {}) {
        const r = await this.exec(args, options);
        if (r.exitCode !== 0) {
            throw new Error(`git ${args[0]} failed (exit ${r.exitCode}): ${(0, exec_1.tail)(r.stderr.trim() || r.stdout.trim(), 10)}`);
        }
        return r.stdout.trim();
    }
    async topLevel() {
        return this.output(['rev-parse', '--show-toplevel']);
    }
    async remoteUrl(remote) {
        const r = await this.exec(['remote', 'get-url', remote]);
        return r.exitCode === 0 ? r.stdout.trim() : undefined;
    }
    /** The sha of a branch on the remote, or undefined when it does not exist there. */
    async remoteBranchSha(remote, branch) {
        const out = await this.remoteOut('ls-remote', remote, [
            'ls-remote',
            '--heads',
            remote,
            `refs/heads/${branch}`
        ]);
        const line = out.split('\n').find(l => l.endsWith(`\trefs/heads/${branch}`));
        return line ? line.split('\t')[0] : undefined;
    }
    async isShallow() {
        return (await this.output(['rev-parse', '--is-shallow-repository'])) === 'true';
    }
    /** Fetches branches into refs/nixos-fleet-update/*, leaving the checkout's own refs alone. */
    async fetchBranches(remote, branches, unshallow) {
        const refspecs = branches.map(b => `+refs/heads/${b}:refs/nixos-fleet-update/${b}`);
        await this.remoteOut('fetch', remote, [
            'fetch',
            '--no-tags',
            '--quiet',
            ...(unshallow ? ['--unshallow'] : []),
            remote,
            ...refspecs
        ]);
    }
    /** Commits in `from..to`, with their author and subject. */
    async commitsBetween(from, to) {
        const out = await this.output(['log', '--format=%H%x1f%an <%ae>%x1f%s%x1f%b%x1e', `${from}..${to}`]);
        return out
            .split('\x1e')
            .map(s => s.trim())
            .filter(Boolean)
            .map(s => {
            const [sha, author, subject, body] = s.split('\x1f');
            return { sha, author, subject, body: body ?? '' };
        });
    }
    /**
     * Which of `paths` (relative to the working directory) differ from the checked-out commit: modified, staged,
     * deleted or untracked.
     */
    async changedFiles(paths) {
        const out = await this.exec(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...paths]);
        if (out.exitCode !== 0) {
            throw new Error(`git status failed (exit ${out.exitCode}): ${(0, exec_1.tail)(out.stderr.trim(), 10)}`);
        }
        // Each entry is `XY path`; a rename adds the old path as its own NUL-terminated field.
        const fields = out.stdout.split('\0');
        const files = [];
        for (let i = 0; i < fields.length; i++) {
            const f = fields[i];
            if (f.length < 4)
                continue;
            files.push(f.slice(3));
            if (f[0] === 'R' || f[0] === 'C')
                i++;
        }
        return files;
    }
    /** A file's content in a commit (a path relative to the working directory), or undefined when it has none. */
    async fileAt(commit, file) {
        const blob = await this.blobAt(commit, `./${file}`);
        if (!blob)
            return undefined;
        const r = await this.exec(['cat-file', 'blob', blob]);
        if (r.exitCode !== 0)
            throw new Error(`git cat-file failed for ${commit}:${file}: ${(0, exec_1.tail)(r.stderr, 5)}`);
        return r.stdout;
    }
    /** Whether the index has an entry for the path (relative to the working directory). */
    async inIndex(file) {
        const r = await this.exec(['ls-files', '--cached', '-z', '--', file]);
        return r.exitCode === 0 && r.stdout !== '';
    }
    /**
     * Drops the index entry of a path (relative to the working directory), leaving the file alone; nothing when
     * there is none. Synchronous, for cleanup that runs from a signal handler.
     */
    unstageSync(file) {
        const r = (0, child_process_1.spawnSync)(this.bin, ['rm', '--cached', '--quiet', '--ignore-unmatch', '--', file], {
            cwd: this.cwd,
            env: (0, exec_1.childEnv)(process.env, this.env),
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe']
        });
        if (r.status !== 0)
            throw new Error(`git rm --cached ${file} failed: ${(0, exec_1.tail)(r.stderr ?? String(r.error), 5)}`);
    }
    /** The blob id of a file in a commit, or undefined when the file is not there. */
    async blobAt(commit, file) {
        const r = await this.exec(['rev-parse', '--verify', '--quiet', `${commit}:${file}`]);
        return r.exitCode === 0 ? r.stdout.trim() : undefined;
    }
    /**
     * A commit on top of `parent` whose tree is the parent's with one file replaced, built with plumbing in a
     * private index: the work tree, the user's index and every other file stay as they are.
     */
    async commitFiles(options) {
        const indexEnv = { GIT_INDEX_FILE: options.indexFile };
        await this.output(['read-tree', options.parent], { env: indexEnv });
        for (const f of options.files) {
            const blob = await this.output(['hash-object', '-w', '--stdin'], { input: f.content });
            await this.output(['update-index', '--add', '--cacheinfo', `100644,${blob},${f.path}`], {
                env: indexEnv
            });
        }
        const tree = await this.output(['write-tree'], { env: indexEnv });
        const identityEnv = {
            GIT_AUTHOR_NAME: options.identity.name,
            GIT_AUTHOR_EMAIL: options.identity.email,
            GIT_COMMITTER_NAME: options.identity.name,
            GIT_COMMITTER_EMAIL: options.identity.email
        };
        const signing = options.openPgp
            ? options.openPgp.gitConfig
            : options.signingKeyFile
                ? ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${options.signingKeyFile}`]
                : ['-c', 'commit.gpgSign=false'];
        const signs = options.openPgp !== undefined || options.signingKeyFile !== undefined;
        return this.output([...signing, 'commit-tree', tree, '-p', options.parent, ...(signs ? ['-S'] : []), '-F', '-'], {
            input: options.message,
            env: options.openPgp ? { ...identityEnv, GNUPGHOME: options.openPgp.home } : identityEnv
        });
    }
    /**
     * Pushes `sha` to the branch only if the remote branch is still at `expected` (undefined: must not exist yet),
     * so a branch that moved since it was fetched is never overwritten.
     */
    async pushWithLease(remote, sha, branch, expected) {
        return this.remoteExec('push', remote, [
            'push',
            '--porcelain',
            `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
            remote,
            `${sha}:refs/heads/${branch}`
        ]);
    }
}
exports.Git = Git;


/***/ }),

/***/ 1202:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.refNameProblem = refNameProblem;
/**
 * What git (check-ref-format) or the action refuses in a branch name, or undefined when it is usable. Besides git's
 * rules: no `refs/` prefix (the action adds it), and nothing git would read as a commit instead of a branch.
 */
function refNameProblem(name) {
    if (name === '')
        return 'empty';
    if (name.startsWith('-'))
        return 'starts with -';
    if (name.startsWith('/') || name.endsWith('/'))
        return 'starts or ends with /';
    if (name.includes('..'))
        return 'contains ..';
    if (name.includes('@{') || name === '@')
        return 'contains @{';
    // git refuses control characters in ref names.
    // eslint-disable-next-line no-control-regex
    if (/[\s~^:?*[\\\x00-\x1f\x7f]/.test(name))
        return 'contains a space, control character or one of ~^:?*[\\';
    if (name.endsWith('.') || name.split('/').some(c => c.endsWith('.lock')))
        return 'a component ends with . or .lock';
    if (name.split('/').some(c => c === '' || c.startsWith('.')))
        return 'has an empty component or one starting with .';
    if (name.startsWith('refs/'))
        return 'give the branch name without refs/';
    // git would read these as the checked-out commit (HEAD, FETCH_HEAD, ORIG_HEAD, …) or as an object name.
    if (/^(?:[A-Z_]*_)?HEAD$/.test(name))
        return 'git reads HEAD and *_HEAD as a commit, not a branch';
    if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i.test(name))
        return 'git reads a full commit id as that commit';
    return undefined;
}


/***/ }),

/***/ 2679:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.defuse = defuse;
/** U+2060 WORD JOINER: invisible, and no forge's reference or link pattern matches across it. */
const WJ = '\u2060';
/**
 * Text from upstream (a flake, a build log, a host name) made inert for both forges' text processing: a word joiner
 * after `#`, `!` before a digit and `GH-` before a digit (issue and pull request references, `owner/repo#3`,
 * Forgejo's `!3`), after `@` (mentions, teams, `owner/repo@sha`, e-mail autolinks), inside `://` and `www.` (URL
 * autolinks, and with them full issue URLs). A closing keyword (`fixes`, `closes`, `resolves`, …) acts only on a
 * reference that follows it, so with no live reference left it closes nothing.
 * Fenced code blocks need none of this: neither forge links or parses references there. Commit messages do:
 * a closing keyword there closes the issue once the commit reaches the default branch.
 */
function defuse(text) {
    return text
        .replace(/#/g, `#${WJ}`)
        .replace(/!(?=\d)/g, `!${WJ}`)
        .replace(/\b(GH-)(?=\d)/gi, `$1${WJ}`)
        .replace(/@/g, `@${WJ}`)
        .replace(/:\/\//g, `:${WJ}//`)
        .replace(/\b(www)\./gi, `$1${WJ}.`);
}


/***/ }),

/***/ 3718:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseList = parseList;
exports.parseBoolean = parseBoolean;
exports.parseCount = parseCount;
exports.compileHostPattern = compileHostPattern;
exports.validateBranch = validateBranch;
exports.expandDate = expandDate;
exports.parseDuration = parseDuration;
exports.parseMergeMethod = parseMergeMethod;
exports.parseConfigurations = parseConfigurations;
const merge_1 = __nccwpck_require__(6279);
const errors_1 = __nccwpck_require__(3916);
const refname_1 = __nccwpck_require__(1202);
const configurations_1 = __nccwpck_require__(724);
const source_1 = __nccwpck_require__(4620);
/** Small typed parsers of input values: each error names the input and the form it expects. */
/** Splits a list input on commas, whitespace and newlines, dropping empty items. */
function parseList(value) {
    return value
        .split(/[\s,]+/)
        .map(s => s.trim())
        .filter(s => s !== '');
}
const BOOLEAN_TRUE = ['true', 'True', 'TRUE'];
const BOOLEAN_FALSE = ['false', 'False', 'FALSE'];
/** `true`/`false` as `core.getBooleanInput` takes them; anything else is an error naming the input. */
function parseBoolean(input, name) {
    const raw = input(name) || (0, source_1.inputDefault)(name);
    if (BOOLEAN_TRUE.includes(raw))
        return true;
    if (BOOLEAN_FALSE.includes(raw))
        return false;
    throw new errors_1.InputError(`Input '${name}' must be true or false, got ${JSON.stringify(raw)}`);
}
/** An optional whole-number input of at least `min`; empty gives undefined. */
function parseCount(input, name, min, unit = '') {
    const raw = input(name);
    if (raw === '')
        return undefined;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
        throw new errors_1.InputError(`Input '${name}' must be a whole number${unit} of at least ${min}, or empty for automatic, got ${JSON.stringify(raw)}`);
    }
    return Number(raw);
}
/** Whole-name match, as `builtins.match` anchors its pattern. */
function compileHostPattern(source, inputName = 'exclude-hosts') {
    try {
        return new RegExp(`^(?:${source})$`, 'u');
    }
    catch (e) {
        throw new errors_1.InputError(`Input '${inputName}' is not a valid regular expression: ${e.message}`);
    }
}
/** Checks a branch name against git's ref rules and the project's own: never the base branch. */
function validateBranch(name, base, inputName = 'branch') {
    const problem = (0, refname_1.refNameProblem)(name);
    if (problem)
        throw new errors_1.InputError(`Input '${inputName}' is not a usable branch name (${problem}): ${JSON.stringify(name)}`);
    if (name === base) {
        throw new errors_1.InputError(`Input '${inputName}' names the base branch '${base}': the update needs a branch of its own`);
    }
}
/** Expands `{date}` in a text. */
function expandDate(text, date) {
    return text.split('{date}').join(date);
}
/**
 * A duration input (`stale-after`, `rollout-soak`): a number with a unit, `d` days, `h` hours, `m` minutes (`2d`, `36h`, `90m`, `1d12h`).
 * Returns milliseconds, or undefined when the text is not such a duration.
 */
function parseDuration(text) {
    const t = text.trim();
    if (!/^(\d+[dhm])+$/.test(t))
        return undefined;
    const unit = { d: 86400000, h: 3600000, m: 60000 };
    let ms = 0;
    for (const m of t.matchAll(/(\d+)([dhm])/g))
        ms += Number(m[1]) * unit[m[2]];
    return ms > 0 ? ms : undefined;
}
/** `merge-method`: auto, or a method the forge knows (rebase-merge and fast-forward-only are Forgejo's). */
function parseMergeMethod(value, forge) {
    const v = (value.trim() || 'auto').toLowerCase();
    const known = forge === 'github' ? merge_1.GITHUB_MERGE_METHODS : merge_1.FORGEJO_MERGE_METHODS;
    if (v === 'auto' || known.includes(v))
        return v;
    const forgejoOnly = forge === 'github' && merge_1.FORGEJO_MERGE_METHODS.includes(v);
    throw new errors_1.InputError(`Input 'merge-method' must be auto, ${known.join(', ')} on ${forge === 'github' ? 'GitHub' : 'Forgejo'}, got ${JSON.stringify(value.trim())}${forgejoOnly ? ' (a Forgejo merge style)' : ''}`);
}
/** `configurations`: the flake output to build, one of nixosConfigurations, homeConfigurations, darwinConfigurations. */
function parseConfigurations(value) {
    const v = value.trim() || 'nixosConfigurations';
    const known = configurations_1.CONFIGURATION_SETS;
    if (known.includes(v))
        return v;
    throw new errors_1.InputError(`Input 'configurations' must be one of ${configurations_1.CONFIGURATION_SETS.join(', ')}, got ${JSON.stringify(value.trim())}`);
}


/***/ }),

/***/ 4620:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.inputVariable = inputVariable;
exports.environmentInputs = environmentInputs;
exports.inputDefault = inputDefault;
exports.misspelledInputVariables = misspelledInputVariables;
const action_1 = __nccwpck_require__(8367);
/** The runner's variable for an input (what `core.getInput` reads): `INPUT_` and the name upper-cased. */
function inputVariable(name) {
    return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}
/** Inputs as the runner passes them: `INPUT_*` variables. */
function environmentInputs(env) {
    return name => env[inputVariable(name)];
}
/** A runner expression (`${{ github.token }}`) only a runner can evaluate: without one the default is empty. */
function isRunnerExpression(value) {
    return value.includes('${{');
}
/** action.yml's default for an input, as it applies outside a runner. */
function inputDefault(name) {
    const value = action_1.INPUTS[name].default;
    return isRunnerExpression(value) ? '' : value;
}
/**
 * `INPUT_*` variables that name no input but would with `-` and `_` swapped (`INPUT_DRY_RUN` for `dry-run`): the
 * shell's spelling, silently ignored otherwise.
 */
function misspelledInputVariables(env) {
    const known = new Map(Object.keys(action_1.INPUTS).map(n => [inputVariable(n), n]));
    const warnings = [];
    for (const variable of Object.keys(env)) {
        if (!variable.startsWith('INPUT_') || known.has(variable))
            continue;
        const name = known.get(`INPUT_${variable.slice('INPUT_'.length).toUpperCase().replace(/_/g, '-')}`);
        if (name) {
            warnings.push(`${variable} is ignored: the input '${name}' is read from ${inputVariable(name)} (env '${inputVariable(name)}=…' node dist/index.js), or use node dist/cli.js --${name}`);
        }
    }
    return warnings;
}


/***/ }),

/***/ 8476:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.stopOnSignals = stopOnSignals;
const os = __importStar(__nccwpck_require__(857));
const exec_1 = __nccwpck_require__(3190);
const SIGNALS = ['SIGINT', 'SIGTERM'];
/**
 * Runs `work`; a SIGINT or SIGTERM meanwhile (a cancelled job, Ctrl-C) stops the step: every running command's
 * process group gets the signal (SIGKILL after a grace period), `stop` runs (it restores flake.lock and removes
 * temporary files), and the process exits with 128 + the signal's number. Once `work` is done the handlers are
 * removed, unless a signal is being handled: then the process ends through the handler.
 */
async function stopOnSignals(stop, work, log) {
    let handling = false;
    const handler = (signal) => {
        if (handling)
            return;
        handling = true;
        log.error(`Stopped by ${signal}: ending the running commands, restoring flake.lock, removing temporary files`);
        void (0, exec_1.stopChildren)(signal).finally(() => {
            try {
                stop();
            }
            catch (e) {
                log.warning(`Cleanup failed: ${String(e)}`);
            }
            process.exit(128 + (os.constants.signals[signal] ?? 0));
        });
    };
    for (const s of SIGNALS)
        process.on(s, handler);
    try {
        return await work();
    }
    finally {
        if (!handling)
            for (const s of SIGNALS)
                process.off(s, handler);
    }
}


/***/ }),

/***/ 5384:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.MemoryLog = void 0;
/** A log that keeps everything in memory: for tests, and for runs whose log nobody reads. */
class MemoryLog {
    lines = [];
    warnings = [];
    errors = [];
    secrets = [];
    outputs = new Map();
    state = new Map();
    summaries = [];
    failure;
    info(message) {
        this.lines.push(message);
    }
    write(chunk) {
        this.lines.push(chunk);
    }
    warning(message, options = {}) {
        this.warnings.push({ message, title: options.title });
    }
    error(message) {
        this.errors.push(message);
    }
    async group(name, fn) {
        this.lines.push(`== ${name}`);
        return fn();
    }
    mask(secret) {
        if (secret !== '')
            this.secrets.push(secret);
    }
    output(name, value) {
        this.outputs.set(name, value);
    }
    saveState(name, value) {
        this.state.set(name, value);
    }
    getState(name) {
        return this.state.get(name) ?? '';
    }
    summary(markdown) {
        this.summaries.push(markdown);
    }
    failed(message) {
        this.failure = message;
    }
}
exports.MemoryLog = MemoryLog;


/***/ }),

/***/ 1730:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.run = run;
const errors_1 = __nccwpck_require__(3916);
const preflight_1 = __nccwpck_require__(8489);
const flake_ref_1 = __nccwpck_require__(6195);
const assemble_1 = __nccwpck_require__(2424);
const context_1 = __nccwpck_require__(1953);
const settings_1 = __nccwpck_require__(8750);
const interrupt_1 = __nccwpck_require__(8476);
const event_1 = __nccwpck_require__(4536);
const mode_1 = __nccwpck_require__(3805);
const review_1 = __nccwpck_require__(7858);
const cache_1 = __nccwpck_require__(2158);
const rollout_1 = __nccwpck_require__(7537);
const context_2 = __nccwpck_require__(670);
const results_1 = __nccwpck_require__(9507);
const checkout_1 = __nccwpck_require__(6292);
const discover_1 = __nccwpck_require__(5803);
const input_selection_1 = __nccwpck_require__(3345);
const path = __importStar(__nccwpck_require__(6928));
const steps_1 = __nccwpck_require__(7110);
/** One flake: discover → build before → update the lock → build after → hold back → diff → push → report. */
async function updateFlake(run, nix, checkout, names) {
    const { settings } = run;
    const label = (0, flake_ref_1.flakeRef)(settings.flakeDir, run.env);
    const found = await (0, steps_1.discoverHosts)(run, nix, names);
    const hosts = found.hosts;
    const pool = (0, steps_1.evalPool)(run, hosts.length);
    const fleetState = await (0, steps_1.readFleet)(run, hosts);
    const before = settings.build
        ? await (0, steps_1.buildFleet)(run, nix, hosts, { name: 'Build before the update', roots: 'before' }, pool)
        : undefined;
    (0, steps_1.guardLock)(run, checkout);
    const update = await (0, steps_1.updateFlakeLock)(run, nix, checkout);
    // The same hosts after the update: their evaluation starts where the one before ended, with no probe.
    const afterPool = { ...pool, start: before?.evaluation.next };
    const built = update.changed && before
        ? await (0, steps_1.buildFleet)(run, nix, hosts, { name: 'Build after the update', roots: 'after' }, afterPool)
        : undefined;
    const held = before && built
        ? await (0, steps_1.holdBackBreakingInputs)(run, nix, hosts, before, built, update, afterPool)
        : undefined;
    // What the pull request proposes: the hosts as its lock builds them.
    const after = held?.proposed ?? built;
    const proposed = (0, steps_1.proposedUpdate)(update, held);
    let compared;
    if (before && after)
        compared = await (0, steps_1.compareSides)(run, nix, hosts, before, after);
    const push = after && settings.push && !settings.dryRun
        ? await (0, steps_1.pushToCache)(run, nix, settings.push, hosts, after)
        : undefined;
    const report = (0, assemble_1.assembleReport)({
        flake: settings.flakeDir,
        flakeRef: label,
        nixVersion: nix.version.text,
        dryRun: settings.dryRun,
        build: settings.build,
        hosts,
        excluded: found.excluded,
        update: proposed,
        fleetState,
        before,
        after,
        diffs: compared?.diffs,
        pending: compared?.pending,
        push,
        timings: run.timings,
        heldBack: held?.inputs,
        nothingLeft: held?.nothingLeft,
        configurations: settings.configurations
    });
    return { run, label, report, proposed, nothingLeft: held?.nothingLeft === true, push };
}
/**
 * Several flakes of one repository: each flake's run (its own work directory and phases named after it), and
 * its checkout, which must be the same git repository as the first's: one commit carries every lock.
 */
async function flakeRuns(run, nix, first) {
    const { settings, log } = run;
    const dirs = settings.flakeDirs;
    const top = first.git ? await first.git.topLevel() : undefined;
    const checkouts = [];
    for (const [i, dir] of dirs.entries()) {
        const checkout = i === 0 ? first : await (0, checkout_1.inspectCheckout)(dir);
        const its = checkout.git ? await checkout.git.topLevel() : undefined;
        if (its !== top) {
            throw new settings_1.InputError(`Input 'flake': ${dir} is ${its ? `in the git repository ${its}` : 'not in a git repository'}, ${dirs[0]} ${top ? `in ${top}` : 'in none'}: the flakes of one run must share a repository, as one commit carries their locks`);
        }
        checkouts.push(checkout);
    }
    const unknown = (0, input_selection_1.unknownInFlakes)(settings.updateInputs, dirs.map((dir, i) => ({ lockText: checkouts[i].oldLock, lockPath: path.join(dir, 'flake.lock') })));
    if (unknown.length > 0) {
        throw new settings_1.InputError(`Input 'update-inputs' names ${unknown.map(i => JSON.stringify(i)).join(', ')}, an input of none of the flakes ${dirs.join(', ')}`);
    }
    const labels = dirs.map(dir => (0, flake_ref_1.flakeRef)(dir, run.env));
    // `hosts` names hosts of any flake (`./lab#web` of one): each flake gets its own; one with none keeps its lock.
    const names = settings.hosts.length === 0
        ? undefined
        : await Promise.all(dirs.map(dir => nix.hostNames(dir, settings.configurations)));
    const perFlake = names
        ? (0, discover_1.hostsPerFlake)(settings.hosts, dirs.map((_, i) => ({ label: labels[i], names: names[i] })), settings.configurations)
        : dirs.map(() => settings.hosts);
    const runs = [];
    for (const [i, dir] of dirs.entries()) {
        if (names && perFlake[i].length === 0) {
            log.info(`${labels[i]}: input 'hosts' names none of its hosts, so its lock is left as it is`);
            continue;
        }
        runs.push({
            run: run.forFlake(dir, labels[i], i, perFlake[i]),
            checkout: checkouts[i],
            names: names?.[i]
        });
    }
    return runs;
}
/**
 * The update: the steps of `updateFlake` for each flake, then one report, one commit with every changed lock and
 * one pull request. Every output and the summary are written before publishing, so that a failure there still
 * leaves the report.
 */
async function updateFleet(run, outcome) {
    const { settings, log } = run;
    const { nix, checkout, target } = await (0, steps_1.prepare)(run);
    if (settings.push && settings.build)
        await (0, steps_1.openCache)(run, nix, settings.push);
    const several = settings.flakeDirs.length > 1;
    const flakes = several ? await flakeRuns(run, nix, checkout) : [{ run, checkout }];
    const done = [];
    for (const f of flakes)
        done.push(await updateFlake(f.run, nix, f.checkout, f.names));
    const { body, full, json, failures, regressedHosts: regressed } = several
        ? (0, results_1.writeSeveralResults)(run, done.map(d => ({ label: d.label, report: d.report, update: d.proposed })))
        : (0, results_1.writeResults)(run, done[0].report, done[0].proposed);
    outcome.report = full;
    outcome.json = json;
    failures.push(...(0, results_1.writePublishOutputs)(run, { branch: settings.branch, pushed: false, operation: 'none' }));
    const pushFailed = done.find(d => d.push?.status === 'failed')?.push;
    if (settings.push?.required && pushFailed) {
        throw new Error(`Pushing the new systems to ${pushFailed.to} failed and 'push-required' is true, so no pull request is opened: ${pushFailed.error ?? ''}`);
    }
    for (const d of done.filter(x => x.nothingLeft)) {
        log.info(`No pull request${several ? ` for ${d.label}` : ''}: every changed input breaks a host and is held back`);
    }
    const locks = done
        .filter(d => d.proposed.changed && !d.nothingLeft)
        .map(d => ({
        flakeDir: d.run.settings.flakeDir,
        newLock: d.proposed.newLock,
        changes: d.proposed.changes,
        created: d.proposed.created,
        label: d.label
    }));
    if (locks.length > 0 && target)
        await (0, steps_1.publishUpdate)(run, target, locks, body, failures);
    log.info(body);
    if (settings.failOnRegression && regressed.length > 0) {
        outcome.result = 'regressed';
        outcome.message = `Hosts that built before the update fail after it: ${regressed.join(', ')}`;
        log.failed(outcome.message);
    }
    // Raised last: what could be written was, and the pull request was published.
    if (failures.length > 0)
        throw new Error(`Could not write ${failures.join('; ')}`);
}
/** Review a pull request, or fill the binary cache from a pushed commit: each its own sequence of the steps. */
async function otherMode(run, mode, event, outcome) {
    const { settings, log } = run;
    log.info(`Mode: ${mode}${settings.modes.mode ? '' : ` (chosen from the event ${event.name || 'none'})`}`);
    const done = mode === 'review' ? await (0, review_1.runReview)(run, event) : await (0, cache_1.runCache)(run);
    Object.assign(outcome, done);
    if (done.result === 'regressed')
        log.failed(done.message ?? 'regressed');
}
/** The action: the settings, then the update; one catch fails the step with the error's message. */
async function run(options) {
    const { log } = options;
    const env = options.env ?? process.env;
    const context = options.context ?? context_1.NO_RUNNER;
    const outcome = { result: 'ok' };
    let current;
    const stop = () => {
        current?.onStop.runAll();
        current?.cleanup.runAll();
    };
    await (0, interrupt_1.stopOnSignals)(stop, async () => {
        try {
            const fileProblems = (0, preflight_1.runnerFileProblems)(env);
            if (fileProblems.length > 0) {
                throw new settings_1.InputError(`The runner's files are not usable, so nothing was run:\n${fileProblems.join('\n')}`);
            }
            const settings = (0, settings_1.getSettings)({
                env,
                log,
                defaultBranch: context.defaultBranch,
                now: options.now ?? new Date(),
                inputs: options.inputs
            });
            current = new context_2.Run(settings, env, log, (0, context_2.makeWorkDir)(env), options.onPhase);
            const event = (0, event_1.eventFrom)(context.eventName, context.payload);
            const mode = (0, mode_1.selectMode)(settings.modes.mode, event, {
                baseBranch: settings.baseBranch,
                pushTo: settings.push !== undefined
            });
            if (mode !== 'update' && settings.flakeDirs.length > 1) {
                throw new settings_1.InputError(`Input 'flake' names ${settings.flakeDirs.length} directories; mode ${mode} works on one flake: run it once per flake (a matrix job)`);
            }
            if (mode === 'rollout' && settings.configurations !== 'nixosConfigurations') {
                throw new settings_1.InputError(`Input 'configurations' is ${settings.configurations}; mode rollout gates NixOS hosts, which report through the fleet-auto-upgrade module: it takes nixosConfigurations`);
            }
            if (mode === 'update')
                await updateFleet(current, outcome);
            else if (mode === 'rollout')
                outcome.report = (await (0, rollout_1.runRolloutMode)(settings, env, log, options.now ?? new Date())).markdown;
            else
                await otherMode(current, mode, event, outcome);
        }
        catch (error) {
            outcome.result = error instanceof settings_1.InputError ? 'bad-input' : 'failed';
            outcome.message = (0, errors_1.errorMessage)(error);
            log.failed(outcome.message);
        }
        finally {
            current?.cleanup.runAll();
        }
    }, log);
    return outcome;
}


/***/ }),

/***/ 8820:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.POLL_MS = exports.MiB = void 0;
exports.memAvailable = memAvailable;
exports.processTree = processTree;
exports.treeRss = treeRss;
exports.watchMemory = watchMemory;
const fs = __importStar(__nccwpck_require__(9896));
const os = __importStar(__nccwpck_require__(857));
exports.MiB = 1024 * 1024;
/** The kernel's estimate of memory available to new processes (MemAvailable), in bytes. */
function memAvailable(read = f => fs.readFileSync(f, 'utf8')) {
    try {
        const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(read('/proc/meminfo'));
        if (m)
            return Number(m[1]) * 1024;
    }
    catch {
        // not Linux, or /proc is not mounted
    }
    return os.freemem();
}
/** The process and every descendant, from /proc (each thread's `children` list); just `pid` without /proc. */
function processTree(pid) {
    const out = [];
    const stack = [pid];
    while (stack.length > 0) {
        const p = stack.pop();
        out.push(p);
        let tasks = [];
        try {
            tasks = fs.readdirSync(`/proc/${p}/task`);
        }
        catch {
            continue;
        }
        for (const t of tasks) {
            try {
                for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(/\s+/)) {
                    if (c !== '')
                        stack.push(Number(c));
                }
            }
            catch {
                // the thread ended, or the kernel keeps no children lists
            }
        }
    }
    return out;
}
/** A field of /proc/PID/status in bytes (`VmRSS` now, `VmHWM` the peak); 0 once the process is gone. */
function statusField(pid, field) {
    try {
        const m = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
    }
    catch {
        return 0;
    }
}
/** Resident memory of these processes now, in bytes. */
function treeRss(pids) {
    return pids.reduce((sum, p) => sum + statusField(p, 'VmRSS'), 0);
}
/** How often a watched tree's memory is read. */
exports.POLL_MS = 20;
/**
 * Reads the resident memory of `pid` and its descendants every POLL_MS and, once it is over `limit` bytes,
 * SIGKILLs every process of the tree and calls `onOver` (to kill what else belongs to the command). Resident
 * memory is what the machine gives a process; an address-space limit (ulimit -v) would count the virtual memory
 * that Nix's garbage collector reserves without using it.
 */
function watchMemory(pid, limit, onOver) {
    let peak = 0;
    let over = false;
    const timer = setInterval(() => {
        if (over)
            return;
        const tree = processTree(pid);
        const rss = treeRss(tree);
        peak = Math.max(peak, rss, statusField(pid, 'VmHWM'));
        if (rss > limit) {
            over = true;
            for (const p of tree) {
                try {
                    process.kill(p, 'SIGKILL');
                }
                catch {
                    // already gone
                }
            }
            onOver();
        }
    }, exports.POLL_MS);
    return { peak: () => peak, stop: () => clearInterval(timer) };
}


/***/ }),

/***/ 2158:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.runCache = runCache;
const git_1 = __nccwpck_require__(308);
const nix_1 = __nccwpck_require__(4280);
const markdown_1 = __nccwpck_require__(4285);
const model_1 = __nccwpck_require__(6867);
const steps_1 = __nccwpck_require__(7110);
const settings_1 = __nccwpck_require__(8750);
const outcome_1 = __nccwpck_require__(43);
/**
 * Cache mode: on a push to the base branch, builds every host at the pushed commit (no update, no pull request)
 * and copies the systems to the binary cache, so that hosts substitute what a squash or rebase merge produced.
 * The same steps as the update's: discover, build (fetching from the cache), push.
 */
async function runCache(run) {
    const { settings } = run;
    const push = settings.push;
    if (!push) {
        throw new settings_1.InputError("Mode 'cache' needs 'push-to' (and 'push-signing-key'): the binary cache to fill");
    }
    const git = await git_1.Git.create(settings.flakeDir);
    const commit = (await git.output(['rev-parse', '--verify', 'HEAD'])).trim();
    const nix = await nix_1.Nix.create(settings.nixArgs, run.log);
    await (0, steps_1.openCache)(run, nix, push);
    const found = await (0, steps_1.discoverHosts)(run, nix);
    const built = await (0, steps_1.buildFleet)(run, nix, found.hosts, { name: 'Build', roots: 'cache' }, (0, steps_1.evalPool)(run, found.hosts.length));
    const hosts = found.hosts.map(host => ({
        host,
        status: 'not-built',
        after: built.hosts.get(host),
        reboot: []
    }));
    const report = {
        flake: settings.flakeDir,
        nixVersion: nix.version.text,
        changed: false,
        built: true,
        dryRun: settings.dryRun,
        hosts,
        excluded: found.excluded,
        lockChanges: [],
        timings: run.timings,
        configurations: settings.configurations
    };
    if (!settings.dryRun)
        report.push = await (0, steps_1.pushToCache)(run, nix, push, found.hosts, built);
    const full = (0, markdown_1.renderCacheReport)(report, commit);
    const json = (0, outcome_1.writeOutputs)(run, report, full, {
        hosts: JSON.stringify(found.hosts),
        changed: 'false',
        'failed-hosts': JSON.stringify((0, model_1.failedHosts)(report)),
        'push-status': report.push?.status ?? '',
        'pushed-paths': report.push ? String(report.push.paths) : '',
        'pushed-bytes': report.push ? String(report.push.bytes) : '',
        report: full
    });
    if (push.required && report.push?.status === 'failed') {
        throw new Error(`Pushing the systems to ${report.push.to} failed and 'push-required' is true: ${report.push.error ?? ''}`);
    }
    return { result: 'ok', report: full, json };
}


/***/ }),

/***/ 4536:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.readEvent = readEvent;
exports.eventFrom = eventFrom;
const fs = __importStar(__nccwpck_require__(9896));
const errors_1 = __nccwpck_require__(3916);
const shape_1 = __nccwpck_require__(1682);
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
function text(v) {
    return typeof v === 'string' ? v : undefined;
}
/**
 * Reads the event from the runner's variables: GITHUB_EVENT_NAME, and the JSON payload in the file
 * GITHUB_EVENT_PATH (both forges write GitHub's payload shapes). Only `pull_request` counts as a pull request:
 * `pull_request_target` runs with the base repository's secrets, so its head must never be built.
 */
function readEvent(env) {
    const name = env.GITHUB_EVENT_NAME ?? '';
    const file = env.GITHUB_EVENT_PATH;
    if (!file)
        return { name };
    let payload;
    try {
        payload = JSON.parse(fs.readFileSync(file, 'utf8'));
    }
    catch (e) {
        return { name, problem: `the event payload ${file} cannot be read: ${(0, errors_1.errorMessage)(e)}` };
    }
    return eventFrom(name, payload, `the event payload ${file}`);
}
/**
 * The event from its name and payload (as @actions/github's context reads them on a runner); `source` names the
 * payload in messages.
 */
function eventFrom(name, payload, source = 'the event payload') {
    if (!(0, shape_1.isRecord)(payload))
        return { name, problem: `${source} is not a JSON object` };
    const event = { name };
    const pr = payload.pull_request;
    if (name === 'pull_request' && (0, shape_1.isRecord)(pr) && (0, shape_1.isRecord)(pr.base) && (0, shape_1.isRecord)(pr.head)) {
        const baseSha = text(pr.base.sha) ?? '';
        const headSha = text(pr.head.sha) ?? '';
        const number = typeof pr.number === 'number' ? pr.number : Number(payload.number);
        const repoName = (side) => (0, shape_1.isRecord)(side.repo) ? text(side.repo.full_name)?.toLowerCase() : undefined;
        const baseRepo = repoName(pr.base);
        const headRepo = repoName(pr.head);
        if (!SHA.test(baseSha) || !SHA.test(headSha) || !Number.isSafeInteger(number)) {
            return { name, problem: `the pull_request payload (${source}) lacks the number, base.sha or head.sha` };
        }
        event.pull = {
            number,
            baseSha,
            headSha,
            baseRef: text(pr.base.ref) ?? '',
            // A deleted fork has no head repository; it was a fork all the same.
            fork: headRepo === undefined || (baseRepo !== undefined && headRepo !== baseRepo)
        };
    }
    if (name === 'push') {
        const ref = text(payload.ref);
        const after = text(payload.after);
        if (ref && after)
            event.push = { ref, after };
    }
    return event;
}


/***/ }),

/***/ 3805:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.MODES = void 0;
exports.parseMode = parseMode;
exports.selectMode = selectMode;
exports.parseModeSettings = parseModeSettings;
const errors_1 = __nccwpck_require__(3916);
/**
 * What a run does: `update` the lock and open a pull request (the default), `review` a pull request (build its base
 * and head, comment the difference), fill the binary `cache` with the systems of a pushed commit, or advance the
 * `rollout` (post the wave gates from the hosts' reports; no build, no update).
 */
exports.MODES = ['update', 'review', 'cache', 'rollout'];
/** The `mode` input: one of MODES, or empty to choose from the event. */
function parseMode(value) {
    const v = value.trim().toLowerCase();
    if (v === '')
        return undefined;
    if (exports.MODES.includes(v))
        return v;
    throw new errors_1.InputError(`Input 'mode' must be ${exports.MODES.join(', ')} or empty (chosen from the event), got ${JSON.stringify(value.trim())}`);
}
/**
 * The mode for this run: the input when given; else `review` on a pull request, `cache` on a push to the base
 * branch when a binary cache is set (push-to), and `update` for everything else (schedule, workflow_dispatch).
 */
function selectMode(given, event, options) {
    if (given)
        return given;
    if (event.pull)
        return 'review';
    if (event.name === 'push' && options.pushTo && event.push?.ref === `refs/heads/${options.baseBranch}`) {
        return 'cache';
    }
    return 'update';
}
/** A commit as git names it (a sha, a branch, `HEAD~1`): never empty, no whitespace, never an option. */
const REV = /^[^\s-][^\s]*$/;
/** Reads `mode`, `review-base` and `review-head`; an error names the input and the form expected. */
function parseModeSettings(mode, base, head) {
    const settings = { mode: parseMode(mode) };
    for (const [name, value] of [
        ['review-base', base.trim()],
        ['review-head', head.trim()]
    ]) {
        if (value === '')
            continue;
        if (!REV.test(value) || value.includes('..')) {
            throw new errors_1.InputError(`Input '${name}' must name one commit (a sha, a branch or a tag), got ${JSON.stringify(value)}`);
        }
        if (name === 'review-base')
            settings.reviewBase = value;
        else
            settings.reviewHead = value;
    }
    if ((settings.reviewBase === undefined) !== (settings.reviewHead === undefined)) {
        throw new errors_1.InputError("Inputs 'review-base' and 'review-head' go together: give both, or neither");
    }
    return settings;
}


/***/ }),

/***/ 43:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.writeOutputs = writeOutputs;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const model_1 = __nccwpck_require__(6867);
/** Writes the JSON file, the job summary and the outputs a review or cache run has; each failure is named. */
function writeOutputs(run, report, full, outputs) {
    const jsonPath = path.join(run.workDir, 'report.json');
    const json = JSON.stringify({
        ...report,
        failedHosts: (0, model_1.failedHosts)(report),
        regressedHosts: (0, model_1.regressedHosts)(report),
        rebootHosts: (0, model_1.rebootHosts)(report)
    }, null, 2);
    fs.writeFileSync(jsonPath, json);
    run.log.summary(full);
    for (const [name, value] of Object.entries({ ...outputs, 'report-json': jsonPath }))
        run.log.output(name, value);
    return json;
}


/***/ }),

/***/ 7858:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.REVIEW_CONTEXT = exports.REVIEW_MARKER = void 0;
exports.reviewCommits = reviewCommits;
exports.runReview = runReview;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const comment_1 = __nccwpck_require__(7514);
const http_1 = __nccwpck_require__(2847);
const git_1 = __nccwpck_require__(308);
const evalpool_1 = __nccwpck_require__(6879);
const lock_1 = __nccwpck_require__(7848);
const nix_1 = __nccwpck_require__(4280);
const build_1 = __nccwpck_require__(1806);
const diff_1 = __nccwpck_require__(7855);
const connect_1 = __nccwpck_require__(397);
const credentials_1 = __nccwpck_require__(4110);
const markdown_1 = __nccwpck_require__(4285);
const model_1 = __nccwpck_require__(6867);
const run_link_1 = __nccwpck_require__(1344);
const words_1 = __nccwpck_require__(2691);
const steps_1 = __nccwpck_require__(7110);
const outcome_1 = __nccwpck_require__(43);
/** The hidden line that finds the review comment again on later pushes. */
exports.REVIEW_MARKER = '<!-- nixos-fleet-update:review -->';
/** The commit status a review sets on the head commit. */
exports.REVIEW_CONTEXT = 'nixos-fleet-update/review';
/** The review's two commits: the inputs when given, else the pull_request event's base and head. */
function reviewCommits(modes, event) {
    if (modes.reviewBase && modes.reviewHead) {
        const samePull = event.pull && event.pull.baseSha === modes.reviewBase && event.pull.headSha === modes.reviewHead;
        return {
            base: modes.reviewBase,
            head: modes.reviewHead,
            pull: samePull ? event.pull?.number : undefined,
            fork: samePull ? (event.pull?.fork ?? false) : false
        };
    }
    if (event.pull) {
        return {
            base: event.pull.baseSha,
            head: event.pull.headSha,
            pull: event.pull.number,
            fork: event.pull.fork
        };
    }
    throw new errors_1.InputError(`Mode 'review' needs the commits to compare: run it on a pull_request event, or set 'review-base' and 'review-head'${event.problem ? ` (${event.problem})` : ''}`);
}
/** A commit resolved in the checkout, fetched from origin when a shallow checkout lacks it. */
async function resolveCommit(git, rev, pull, token, log) {
    const verify = async () => {
        const r = await git.exec(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
        return r.exitCode === 0 ? r.stdout.trim() : undefined;
    };
    const local = await verify();
    if (local)
        return local;
    const remoteUrl = await git.remoteUrl(credentials_1.REMOTE);
    if (remoteUrl) {
        const g = git.withEnv(await (0, credentials_1.pushCredentials)(git, remoteUrl, token, secret => log.mask(secret)));
        // Servers let a client fetch a commit by its id when it is reachable (GitHub, Forgejo over protocol v2); the
        // pull request's head ref is a fallback for those that do not.
        const refspecs = [[rev], ...(pull === undefined ? [] : [[`refs/pull/${pull}/head`]])];
        for (const spec of refspecs) {
            await g.exec(['-c', 'http.followRedirects=false', 'fetch', '--no-tags', '--quiet', credentials_1.REMOTE, ...spec]);
            const fetched = await verify();
            if (fetched)
                return fetched;
        }
    }
    throw new errors_1.InputError(`The commit ${rev} is neither in the checkout nor on ${credentials_1.REMOTE}`);
}
/** The hosts of one side: `hosts` and `exclude-hosts` applied, tolerating named hosts that side lacks. */
async function sideHosts(nix, flake, settings) {
    if (!fs.existsSync(path.join(flake, 'flake.nix')))
        return { hosts: [], excluded: [] };
    const all = await nix.hostNames(flake, settings.configurations);
    const named = settings.hosts.length > 0 ? all.filter(h => settings.hosts.includes(h)) : all;
    return {
        hosts: named.filter(h => !settings.excludeHosts.test(h)).sort(),
        excluded: named.filter(h => settings.excludeHosts.test(h))
    };
}
/** The same system at both commits: both evaluated to the same derivation. */
function sameDerivation(base, head, host) {
    const b = base.results.get(host);
    const a = head.results.get(host);
    return !!b && !!a && 'drvPath' in b && 'drvPath' in a && b.drvPath === a.drvPath;
}
function hostReport(host, base, head) {
    const before = base.hosts.get(host);
    const after = head.hosts.get(host);
    const sameSystem = before?.outPath !== undefined && before.outPath === after?.outPath;
    return { host, status: (0, model_1.hostStatus)({ before, after, sameSystem }), before, after, reboot: [] };
}
/** The commit status: failure when a host that builds at the base fails at the head (with fail-on-regression). */
function reviewStatus(report, settings, targetUrl) {
    const regressed = (0, model_1.regressedHosts)(report);
    const failing = settings.failOnRegression && regressed.length > 0;
    const n = report.hosts.length;
    const description = failing
        ? `${(0, words_1.plural)(regressed.length, 'host')} fail${regressed.length === 1 ? 's' : ''} to build: ${regressed.join(', ')}`
        : `${(0, words_1.plural)(n, 'host')} changed, ${report.review?.unchanged ?? 0} unchanged`;
    // GitHub takes up to 140 characters of description.
    return {
        state: failing ? 'failure' : 'success',
        context: exports.REVIEW_CONTEXT,
        description: description.length > 140 ? `${description.slice(0, 139)}…` : description,
        targetUrl
    };
}
/**
 * Posts the report as the pull request's one review comment and sets the status on the head. A read-only token (a
 * pull request from a fork, on both forges) is said once and does not fail the run: the job summary has the report.
 */
async function publishReview(run, pull, report, body) {
    const { settings, log, env } = run;
    let forge;
    try {
        forge = (0, connect_1.makeForge)(settings, env, log);
    }
    catch (e) {
        log.warning(`The review is not posted on pull request #${pull.number}: ${(0, errors_1.errorMessage)(e)}`);
        return undefined;
    }
    const refused = [];
    const other = [];
    const attempt = async (what, fn) => {
        try {
            await fn();
        }
        catch (e) {
            if (e instanceof http_1.ForgeError && (e.status === 403 || e.status === 401))
                refused.push(what);
            else
                other.push(`${what}: ${(0, errors_1.errorMessage)(e)}`);
        }
    };
    let url;
    await attempt('comment', async () => {
        const { comment, operation } = await (0, comment_1.upsertComment)(forge, pull.number, exports.REVIEW_MARKER, body);
        url = comment.url;
        log.info(`Review comment ${operation}: ${comment.url}`);
    });
    await attempt('set the commit status', async () => {
        const status = reviewStatus(report, settings, url ?? (0, run_link_1.runUrl)(env, settings.forge));
        await forge.postStatus(pull.head, status);
        log.info(`Commit status ${exports.REVIEW_CONTEXT} on ${pull.head.slice(0, 12)}: ${status.state}`);
    });
    if (refused.length > 0) {
        const why = pull.fork
            ? 'pull requests from forks get a read-only token on GitHub and Forgejo'
            : 'the token may not write to this repository (GitHub: permissions pull-requests: write and statuses: write; Forgejo: a token that may write)';
        log.info(`Could not ${refused.join(' or ')} on pull request #${pull.number}: ${why}. The report is in the job summary.`);
    }
    for (const o of other)
        log.warning(`Could not ${o}`);
    return url;
}
/** A git worktree of `commit` under the work directory, removed when the review ends. */
async function worktree(git, dir, commit) {
    const r = await git.exec(['worktree', 'add', '--detach', '--quiet', dir, commit]);
    if (r.exitCode !== 0)
        throw new Error(`git worktree add ${commit} failed: ${r.stderr.trim()}`);
}
/**
 * Review mode: builds the hosts at a pull request's base and head commits (worktrees of the checkout, no lock
 * update), diffs those whose system changed and reports them as the update does. Hosts whose system derivation is
 * the same on both sides are counted, not built; hosts of one side only are listed as added or removed.
 */
async function runReview(run, event) {
    const { settings, log } = run;
    const commits = reviewCommits(settings.modes, event);
    const git = await git_1.Git.create(settings.flakeDir);
    const top = await git.topLevel();
    const rel = path.relative(top, settings.flakeDir);
    const base = await resolveCommit(git, commits.base, commits.pull, settings.token, log);
    const head = await resolveCommit(git, commits.head, commits.pull, settings.token, log);
    log.info(`Reviewing ${base.slice(0, 12)} → ${head.slice(0, 12)}${commits.pull !== undefined ? ` (pull request #${commits.pull}${commits.fork ? ', from a fork' : ''})` : ''}`);
    const nix = await nix_1.Nix.create(settings.nixArgs, log);
    const trees = { base: path.join(run.workDir, 'base'), head: path.join(run.workDir, 'head') };
    const roots = path.join(run.workDir, 'gcroots');
    try {
        await worktree(git, trees.base, base);
        await worktree(git, trees.head, head);
        const flakes = { base: path.join(trees.base, rel), head: path.join(trees.head, rel) };
        const [baseSide, headSide] = await run.phase('Discover hosts', async () => [
            await sideHosts(nix, flakes.base, settings),
            await sideHosts(nix, flakes.head, settings)
        ]);
        const [baseHosts, headHosts] = [baseSide.hosts, headSide.hosts];
        if (headHosts.length === 0 && !fs.existsSync(path.join(flakes.head, 'flake.nix'))) {
            throw new errors_1.InputError(`The head commit ${head.slice(0, 12)} has no flake.nix in ${rel || 'its top directory'}`);
        }
        const pool = (0, steps_1.evalPool)(run, Math.max(baseHosts.length, headHosts.length, 1));
        const [baseEval, headEval] = await run.phase('Evaluate the base and the head', async () => [
            await (0, evalpool_1.evaluateToplevels)(nix, flakes.base, baseHosts, pool, [], settings.configurations),
            await (0, evalpool_1.evaluateToplevels)(nix, flakes.head, headHosts, pool, [], settings.configurations)
        ]);
        const common = headHosts.filter(h => baseHosts.includes(h));
        const changed = common.filter(h => !sameDerivation(baseEval, headEval, h));
        const added = headHosts.filter(h => !baseHosts.includes(h));
        const removed = baseHosts.filter(h => !headHosts.includes(h));
        log.info(`${changed.length} of ${common.length} hosts changed${added.length ? `; added: ${added.join(', ')}` : ''}${removed.length ? `; removed: ${removed.join(', ')}` : ''}`);
        // An entry for a platform that nothing here builds is evaluated only, as in the update.
        const target = await (0, steps_1.buildTarget)(run, nix);
        const baseBuild = await run.phase('Build the base', () => (0, build_1.buildEvaluated)(nix, [...changed, ...removed], baseEval, path.join(roots, 'base'), target));
        const headBuild = await run.phase('Build the head', () => (0, build_1.buildEvaluated)(nix, [...changed, ...added], headEval, path.join(roots, 'head'), target));
        const hosts = changed.map(h => hostReport(h, baseBuild, headBuild));
        const pairs = hosts.flatMap(h => h.before?.status === 'built' && h.after?.status === 'built' && h.before.outPath && h.after.outPath
            ? [{ host: h.host, before: h.before.outPath, after: h.after.outPath }]
            : []);
        const diffs = await run.phase('Diff closures', () => (0, diff_1.diffHosts)(nix, pairs, settings.configurations));
        for (const d of diffs) {
            const h = hosts.find(x => x.host === d.host);
            if (h)
                Object.assign(h, {
                    diff: d.diff,
                    reboot: d.reboot,
                    units: d.units,
                    release: d.release,
                    kernel: d.kernel
                });
        }
        const pending = await (0, diff_1.pendingHosts)(nix, hosts.flatMap(h => h.status === 'regressed' && h.before?.outPath && h.after?.status === 'build-failed' && h.after.drvPath
            ? [{ host: h.host, before: h.before.outPath, afterDrv: h.after.drvPath }]
            : []));
        for (const h of hosts)
            h.pending = pending.get(h.host);
        const oneSided = (build, names) => names.flatMap(host => {
            const b = build.hosts.get(host);
            return b ? [{ host, build: b }] : [];
        });
        const lock = (dir) => {
            const file = path.join(dir, 'flake.lock');
            return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
        };
        const [oldLock, newLock] = [lock(flakes.base), lock(flakes.head)];
        const report = {
            flake: settings.flakeDir,
            flakeRef: rel === '' ? '.' : `./${rel.split(path.sep).join('/')}`,
            nixVersion: nix.version.text,
            changed: changed.length + added.length + removed.length > 0,
            built: true,
            dryRun: settings.dryRun,
            hosts,
            excluded: [...new Set([...baseSide.excluded, ...headSide.excluded])].sort(),
            lockChanges: oldLock !== undefined && newLock !== undefined && oldLock !== newLock
                ? (0, lock_1.compareLocks)(oldLock, newLock)
                : [],
            timings: run.timings,
            configurations: settings.configurations,
            warnings: (0, model_1.warningChanges)(hosts),
            review: {
                base,
                head,
                unchanged: common.length - changed.length,
                added: oneSided(headBuild, added),
                removed: oneSided(baseBuild, removed)
            }
        };
        const link = (0, run_link_1.runUrl)(run.env, settings.forge);
        const body = (0, markdown_1.renderReport)(report, {
            limit: markdown_1.REPORT_LIMIT - exports.REVIEW_MARKER.length - 1,
            fullReport: link ? `the job summary of [the workflow run](${link})` : undefined,
            timings: false
        });
        const full = (0, markdown_1.renderReport)(report, { limit: markdown_1.SUMMARY_LIMIT });
        let commentUrl;
        if (commits.pull !== undefined && settings.token && !settings.dryRun) {
            commentUrl = await publishReview(run, { number: commits.pull, head, fork: commits.fork }, report, body);
        }
        else if (commits.pull !== undefined) {
            log.info(`Not posted on pull request #${commits.pull}: ${settings.dryRun ? 'a dry run' : "the input 'token' is empty"}`);
        }
        const json = (0, outcome_1.writeOutputs)(run, report, full, {
            hosts: JSON.stringify(hosts.map(h => h.host)),
            changed: String(report.changed),
            'failed-hosts': JSON.stringify((0, model_1.failedHosts)(report)),
            'regressed-hosts': JSON.stringify((0, model_1.regressedHosts)(report)),
            'reboot-hosts': JSON.stringify((0, model_1.rebootHosts)(report)),
            report: body,
            'comment-url': commentUrl ?? ''
        });
        const regressed = (0, model_1.regressedHosts)(report);
        if (settings.failOnRegression && regressed.length > 0) {
            return {
                result: 'regressed',
                message: `Hosts that build at the base fail at the head: ${regressed.join(', ')}`,
                report: full,
                json
            };
        }
        return { result: 'ok', report: full, json };
    }
    finally {
        for (const dir of [trees.base, trees.head]) {
            if (fs.existsSync(dir))
                await git.exec(['worktree', 'remove', '--force', dir]);
        }
        await git.exec(['worktree', 'prune']);
        fs.rmSync(roots, { recursive: true, force: true });
    }
}


/***/ }),

/***/ 7537:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.runRollout = runRollout;
exports.runRolloutMode = runRolloutMode;
const errors_1 = __nccwpck_require__(3916);
const forgejo_1 = __nccwpck_require__(5483);
const fleet_state_1 = __nccwpck_require__(9087);
const github_1 = __nccwpck_require__(932);
const http_1 = __nccwpck_require__(2847);
const evalpool_1 = __nccwpck_require__(6879);
const nix_1 = __nccwpck_require__(4280);
const discover_1 = __nccwpck_require__(5803);
const fleet_state_2 = __nccwpck_require__(5362);
const rollout_1 = __nccwpck_require__(8363);
const run_link_1 = __nccwpck_require__(1344);
const gates_1 = __nccwpck_require__(4549);
const waves_1 = __nccwpck_require__(535);
const settings_1 = __nccwpck_require__(8750);
const connect_1 = __nccwpck_require__(397);
/** What a forge's refusal to take a status means for the token. */
function refusalHint(e, forge) {
    if (!(e instanceof http_1.ForgeError) || (e.status !== 403 && e.status !== 404))
        return '';
    return forge === 'github'
        ? ' (the token may not write commit statuses: give the workflow `permissions: statuses: write`, or use a token with "Commit statuses: read and write")'
        : ' (the token may not write commit statuses: use a token with write:repository of an account with write access to the repository)';
}
/**
 * `mode: rollout`: reads each host's wave (one evaluation of that option, no system built), the base branch's
 * statuses (the hosts' reports and the gates), and posts the gates that are due, each once. Outputs
 * `rollout-gates` and `rollout-halted`, the job summary gets the "Rollout" section. Nothing is updated, built,
 * pushed or opened. A status that cannot be posted fails the run after the outputs and the summary are written.
 */
async function runRollout(ctx) {
    const { settings, nix, log, now } = ctx;
    if (!settings.token)
        throw new settings_1.InputError("Input 'token' is empty: mode rollout reads and posts commit statuses");
    const endpoints = ctx.endpoints;
    if (!endpoints) {
        throw new settings_1.InputError("mode rollout needs the repository (GITHUB_REPOSITORY as OWNER/NAME) and the forge's API ('api-url' or GITHUB_API_URL)");
    }
    const found = await log.group('Discover hosts', () => (0, discover_1.discover)(nix, settings.flakeDir, settings.hosts, settings.excludeHosts, settings.excludeHostsSource));
    const budget = (0, evalpool_1.poolOptions)(settings, 1, (0, evalpool_1.localMachine)()).budget;
    const hosts = await log.group('Read the rollout waves', async () => {
        const waves = await (0, waves_1.evaluateWaves)(nix, settings.flakeDir, found.hosts, budget);
        for (const w of waves.filter(x => x.error !== undefined)) {
            log.warning(`The rollout wave of ${w.host} could not be evaluated, so it counts as wave 0: ${w.error}`);
        }
        log.info(waves.map(w => `${w.host}: wave ${w.wave}`).join(', '));
        return waves;
    });
    const api = new http_1.ApiClient(endpoints.apiUrl, settings.token, ctx.http ?? { attempts: 3, timeoutMs: 15000 });
    const branch = await log.group('Read the fleet state', () => (0, fleet_state_1.readBranchStatuses)(api, settings.forge, {
        owner: endpoints.owner,
        repo: endpoints.repo,
        base: settings.baseBranch
    }));
    const plan = (0, gates_1.planRollout)({
        commits: branch.commits,
        statuses: branch.statuses,
        hosts,
        soakMs: settings.rollout.soakMs,
        requireAll: settings.rollout.requireAll,
        now
    });
    const posted = [];
    const failures = [];
    if (settings.dryRun) {
        for (const p of plan.post)
            log.info(`Dry run: would post ${p.context} ${p.state} on ${p.commit}`);
    }
    else if (plan.post.length > 0) {
        const forge = settings.forge === 'forgejo'
            ? new forgejo_1.ForgejoForge(endpoints.apiUrl, settings.token, endpoints.owner, endpoints.repo, endpoints.serverUrl, log, ctx.http)
            : new github_1.GitHubForge(endpoints.apiUrl, settings.token, endpoints.owner, endpoints.repo, endpoints.serverUrl, endpoints.graphqlUrl, ctx.http);
        const targetUrl = (0, run_link_1.runUrl)(ctx.env, settings.forge);
        await log.group('Post the gates', async () => {
            for (const p of plan.post) {
                const status = {
                    state: p.state,
                    context: p.context,
                    description: p.description,
                    targetUrl
                };
                try {
                    await forge.postStatus(p.commit, status);
                    posted.push(p);
                    log.info(`Posted ${p.context} ${p.state} on ${p.commit}: ${p.description}`);
                }
                catch (e) {
                    failures.push(`${p.context} on ${p.commit}: ${(0, errors_1.errorMessage)(e)}${refusalHint(e, settings.forge)}`);
                }
            }
        });
    }
    if (plan.halted) {
        log.warning(`The rollout is halted at ${plan.halted.commit.slice(0, 7)} by wave ${plan.halted.wave}: ${plan.halted.reason}`, { title: 'Rollout halted' });
    }
    const state = (0, fleet_state_1.fleetState)({
        base: settings.baseBranch,
        hosts: found.hosts,
        commits: branch.commits,
        statuses: branch.statuses,
        staleAfterMs: settings.staleAfterMs,
        now
    });
    const markdown = [
        `## Rollout of ${settings.baseBranch}`,
        ...(0, rollout_1.rolloutLines)(plan, {
            base: settings.baseBranch,
            soakMs: settings.rollout.soakMs,
            requireAll: settings.rollout.requireAll,
            posted: settings.dryRun ? undefined : posted
        }),
        ...(0, fleet_state_2.fleetStateLines)(state)
    ].join('\n');
    log.output('hosts', JSON.stringify(found.hosts));
    log.output('rollout-halted', plan.halted ? JSON.stringify(plan.halted) : '');
    // As it happened: a gate that was not posted (a dry run, a refusal) leaves the wave on the gate it had.
    const gates = plan.gates.flatMap(g => {
        const made = posted.some(p => p.wave === g.wave && p.commit === g.commit && p.state === 'success');
        if (!g.posted || made)
            return [{ wave: g.wave, commit: g.commit, posted: g.posted }];
        return g.previous ? [{ wave: g.wave, commit: g.previous, posted: false }] : [];
    });
    log.output('rollout-gates', JSON.stringify(gates));
    log.summary(`${markdown}\n`);
    if (failures.length > 0)
        throw new Error(`Could not post ${failures.join('; ')}`);
    return { hosts, plan: { ...plan, gates }, posted, halted: plan.halted, markdown };
}
/**
 * `mode: rollout` from the settings: the forge's endpoints from the runner's environment (none when they cannot
 * be found: runRollout then fails naming what is missing) and Nix with the settings' arguments.
 */
async function runRolloutMode(settings, env, log, now) {
    let endpoints;
    try {
        endpoints = (0, connect_1.forgeEndpoints)(settings, env);
    }
    catch {
        endpoints = undefined;
    }
    const nix = await nix_1.Nix.create(settings.nixArgs, log);
    return runRollout({ settings, nix, log, env, endpoints, now });
}


/***/ }),

/***/ 6854:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.splitArgs = splitArgs;
exports.maskNixSecrets = maskNixSecrets;
const errors_1 = __nccwpck_require__(3916);
/** Splits `--max-jobs 4 --builders 'ssh://b x86_64-linux'` into arguments with shell-like quoting, no expansion. */
function splitArgs(value, inputName = 'nix-args') {
    const args = [];
    let current = '';
    let inWord = false;
    let quote;
    for (let i = 0; i < value.length; i++) {
        const c = value[i];
        if (quote) {
            if (c === quote)
                quote = undefined;
            else if (c === '\\' && quote === '"' && (value[i + 1] === '"' || value[i + 1] === '\\'))
                current += value[++i];
            else
                current += c;
        }
        else if (c === '"' || c === "'") {
            quote = c;
            inWord = true;
        }
        else if (c === '\\' && i + 1 < value.length) {
            current += value[++i];
            inWord = true;
        }
        else if (/\s/.test(c)) {
            if (inWord)
                args.push(current);
            current = '';
            inWord = false;
        }
        else {
            current += c;
            inWord = true;
        }
    }
    if (quote)
        throw new errors_1.InputError(`Input '${inputName}' has an unterminated ${quote} quote`);
    if (inWord)
        args.push(current);
    return args;
}
/** Masks the values of access-token settings passed in nix-args, so Nix's own messages cannot leak them. */
function maskNixSecrets(args, mask) {
    const secretSettings = ['access-tokens', 'extra-access-tokens', 'netrc-file'];
    args.forEach((arg, i) => {
        let value;
        if (arg === '--option' && secretSettings.includes(args[i + 1] ?? ''))
            value = args[i + 2];
        else if (secretSettings.includes(arg.replace(/^--/, '')))
            value = args[i + 1];
        if (!value)
            return;
        mask(value);
        for (const part of value.split(/\s+/)) {
            const token = part.slice(part.indexOf('=') + 1);
            if (token.length > 3)
                mask(token);
        }
    });
    return args;
}


/***/ }),

/***/ 3781:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseSigningKey = parseSigningKey;
exports.checkPublicKey = checkPublicKey;
exports.isBinaryCacheUrl = isBinaryCacheUrl;
exports.withParam = withParam;
exports.storeCredentials = storeCredentials;
exports.copiedPaths = copiedPaths;
exports.substitutedPaths = substitutedPaths;
const crypto = __importStar(__nccwpck_require__(6982));
/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/**
 * Reads a secret key made by `nix-store --generate-binary-cache-key` or `nix key generate-secret`, and derives
 * its public key. The secret key holds the public key in its second half: it is checked against the one the
 * seed gives, so a truncated or edited key is refused before anything is built.
 */
function parseSigningKey(text, inputName = 'push-signing-key') {
    const value = text.trim();
    const m = /^([^:\s]+):([A-Za-z0-9+/]+={0,2})$/.exec(value);
    const expected = `a Nix secret signing key, NAME:BASE64 (from nix-store --generate-binary-cache-key)`;
    if (!m)
        throw new Error(`Input '${inputName}' is not ${expected}`);
    const bytes = Buffer.from(m[2], 'base64');
    if (bytes.length !== 64) {
        throw new Error(`Input '${inputName}' is not ${expected}: its key is ${bytes.length} bytes, an Ed25519 secret key is 64` +
            (bytes.length === 32 ? ' (is this the public key?)' : ''));
    }
    const seed = bytes.subarray(0, 32);
    const stated = bytes.subarray(32);
    const derived = crypto
        .createPublicKey(crypto.createPrivateKey({
        key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8'
    }))
        .export({ format: 'der', type: 'spki' })
        .subarray(-32);
    if (!derived.equals(stated)) {
        throw new Error(`Input '${inputName}' is damaged: its public half does not belong to its secret half`);
    }
    return { name: m[1], secret: value, publicKey: `${m[1]}:${stated.toString('base64')}` };
}
/** Checks a public key (`name:base64` of 32 bytes), as `trusted-public-keys` takes it. */
function checkPublicKey(text, inputName = 'push-public-key') {
    const value = text.trim();
    const m = /^([^:\s]+):([A-Za-z0-9+/]+={0,2})$/.exec(value);
    if (!m || Buffer.from(m[2], 'base64').length !== 32) {
        throw new Error(`Input '${inputName}' is not a Nix public key, NAME:BASE64 of 32 bytes (e.g. cache.example.org-1:…=)`);
    }
    return value;
}
/**
 * Stores that take a signing key in their URL (`?secret-key=`) and sign while uploading: Nix's binary caches.
 * Other stores (ssh://, ssh-ng://, a local or daemon store) get paths that are signed in the local store first.
 */
function isBinaryCacheUrl(url) {
    return /^(file|https?|s3):\/\//i.test(url);
}
/** Adds a query parameter to a store URL, keeping the ones it has. */
function withParam(url, name, value) {
    const hash = url.indexOf('#');
    const base = hash >= 0 ? url.slice(0, hash) : url;
    return `${base}${base.includes('?') ? '&' : '?'}${name}=${value}${hash >= 0 ? url.slice(hash) : ''}`;
}
/**
 * The AWS SDK's variables (keys, session token, profile, region) for the Nix processes that open an s3:// store
 * to push: no other child process gets them, since a build could read them (see src/exec.ts).
 */
function storeCredentials(url, env) {
    const out = {};
    if (!/^s3:\/\//i.test(url))
        return out;
    for (const [name, value] of Object.entries(env))
        if (name.startsWith('AWS_') && value !== undefined)
            out[name] = value;
    return out;
}
/** The store paths that a `nix copy` reported sending (`copying path '…' to '…'`; Nix 2.8 to 2.2x, Lix). */
function copiedPaths(stderr) {
    const out = new Set();
    for (const m of stderr.matchAll(/^copying path '(\/[^']+)' to '/gm))
        out.add(m[1]);
    return [...out];
}
/** The store paths that were fetched from a substituter during a build (`copying path '…' from '…'`). */
function substitutedPaths(stderr) {
    const out = new Set();
    for (const m of stderr.matchAll(/^copying path '(\/[^']+)' from '/gm))
        out.add(m[1]);
    return [...out];
}


/***/ }),

/***/ 8684:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.diffClosures = diffClosures;
exports.countKinds = countKinds;
const names_1 = __nccwpck_require__(8971);
const byText = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
function packagesOf(side, infos) {
    const byName = new Map();
    const selected = new Set();
    for (const path of side.paths) {
        const { name, version } = (0, names_1.splitPackageName)((0, names_1.storePathName)(path));
        const bytes = infos.get(path)?.narSize ?? 0;
        const known = byName.get(name);
        if (known) {
            known.versions.push(version);
            known.bytes += bytes;
        }
        else
            byName.set(name, { versions: [version], bytes });
    }
    for (const path of side.selected)
        selected.add((0, names_1.splitPackageName)((0, names_1.storePathName)(path)).name);
    for (const p of byName.values())
        p.versions.sort((x, y) => (0, names_1.compareVersions)(x, y) || byText(x, y));
    return { byName, selected };
}
/** Equal lists for Nix: `1.01` and `1.1` are one version, so a rebuild under either name is no change. */
function sameVersions(a, b) {
    return a.length === b.length && a.every((v, i) => (0, names_1.compareVersions)(v, b[i]) === 0);
}
function selectionOf(before, after) {
    if (before && after)
        return '*';
    if (after)
        return '+';
    if (before)
        return '-';
    return '.';
}
/** An upgrade when every new version is above every old one, a downgrade the reverse, else a change. */
function versionKind(before, after) {
    if ((0, names_1.compareVersions)(before[before.length - 1], after[0]) < 0)
        return 'upgrade';
    if ((0, names_1.compareVersions)(before[0], after[after.length - 1]) > 0)
        return 'downgrade';
    return 'changed';
}
function sumNarSize(paths, infos) {
    let total = 0;
    for (const p of paths)
        total += infos.get(p)?.narSize ?? 0;
    return total;
}
/**
 * Pairs removed and added names the way nvd does: each removed name, in name order, takes the first added name (in
 * name order) that differs from it only in a version-like part. So `lua5.3-lpeg` pairs with `lua5.10-lpeg` when
 * both `lua5.10-lpeg` and `lua5.4-lpeg` appear.
 */
function pairRenames(removed, added) {
    const pairs = [];
    const taken = new Set();
    for (const from of removed) {
        for (const to of added) {
            if (taken.has(to))
                continue;
            const merged = (0, names_1.mergeRenamed)(from, to);
            if (merged !== undefined) {
                pairs.push([from, to, merged]);
                taken.add(to);
                break;
            }
        }
    }
    return pairs;
}
/** A package on one side only: added (selected: newly selected) or removed (selected: no longer selected). */
function oneSided(name, p, kind, selected) {
    const added = kind === 'added';
    return {
        name,
        kind,
        before: added ? [] : p.versions,
        after: added ? p.versions : [],
        selection: selected ? (added ? '+' : '-') : '.',
        bytesBefore: added ? 0 : p.bytes,
        bytesAfter: added ? p.bytes : 0
    };
}
/** Compares two closures the way nvd does: by package name, then by the set of versions and selection state. */
function diffClosures(before, after, infos) {
    const b = packagesOf(before, infos);
    const a = packagesOf(after, infos);
    const changed = [];
    const selectionChanged = [];
    for (const [name, now] of a.byName) {
        const then = b.byName.get(name);
        if (!then)
            continue;
        const selection = selectionOf(b.selected.has(name), a.selected.has(name));
        const entry = {
            name,
            before: then.versions,
            after: now.versions,
            selection,
            bytesBefore: then.bytes,
            bytesAfter: now.bytes
        };
        if (!sameVersions(then.versions, now.versions)) {
            changed.push({ ...entry, kind: versionKind(then.versions, now.versions) });
        }
        else if (selection === '+' || selection === '-') {
            selectionChanged.push({ ...entry, kind: 'changed' });
        }
    }
    const addedNames = [...a.byName.keys()].filter(n => !b.byName.has(n)).sort(byText);
    const removedNames = [...b.byName.keys()].filter(n => !a.byName.has(n)).sort(byText);
    const renamed = pairRenames(removedNames, addedNames).map(([from, to, name]) => {
        const was = b.selected.has(from);
        const is = a.selected.has(to);
        const mark = (s) => (s ? '*' : '.');
        const then = b.byName.get(from);
        const now = a.byName.get(to);
        return {
            name,
            kind: 'upgrade',
            from,
            to,
            before: then.versions,
            after: now.versions,
            selection: was === is ? mark(was) : was ? '*.' : '.*',
            bytesBefore: then.bytes,
            bytesAfter: now.bytes
        };
    });
    const renamedFrom = new Set(renamed.map(r => r.from));
    const renamedTo = new Set(renamed.map(r => r.to));
    const added = addedNames
        .filter(n => !renamedTo.has(n))
        .map(n => oneSided(n, a.byName.get(n), 'added', a.selected.has(n)));
    const removed = removedNames
        .filter(n => !renamedFrom.has(n))
        .map(n => oneSided(n, b.byName.get(n), 'removed', b.selected.has(n)));
    const byName = (x, y) => byText(x.name, y.name);
    let pathsAdded = 0;
    for (const p of after.paths)
        if (!before.paths.has(p))
            pathsAdded++;
    let pathsRemoved = 0;
    for (const p of before.paths)
        if (!after.paths.has(p))
            pathsRemoved++;
    return {
        changed: changed.sort(byName),
        renamed,
        selectionChanged: selectionChanged.sort(byName),
        added,
        removed,
        pathsBefore: before.paths.size,
        pathsAfter: after.paths.size,
        pathsAdded,
        pathsRemoved,
        bytesBefore: sumNarSize(before.paths, infos),
        bytesAfter: sumNarSize(after.paths, infos)
    };
}
/** Counts by nvd's marks, for the fleet table: a rename counts as an upgrade, a selection change as a change. */
function countKinds(diff) {
    const counts = {
        upgrade: diff.renamed.length,
        downgrade: 0,
        changed: diff.selectionChanged.length,
        added: diff.added.length,
        removed: diff.removed.length
    };
    for (const c of diff.changed)
        counts[c.kind]++;
    return counts;
}


/***/ }),

/***/ 2198:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parsePathInfo = parsePathInfo;
exports.closureOf = closureOf;
/**
 * Parses `nix path-info --json` in each shape: an array of objects with `path` (Nix ≤ 2.18, Lix), an object keyed
 * by path (Nix ≥ 2.19, and `--json-format 1` since 2.33), and `{version: 2, storeDir, info}` keyed by base name
 * (`--json-format 2`, Nix ≥ 2.33). Invalid paths come as `null` values (2.19+) or `{path, valid: false}` entries.
 */
function parsePathInfo(json) {
    const data = JSON.parse(json);
    const map = new Map();
    const add = (path, v) => {
        if (v === null || typeof v !== 'object')
            return;
        const o = v;
        if (o.valid === false)
            return;
        const refs = Array.isArray(o.references)
            ? o.references.filter((r) => typeof r === 'string')
            : [];
        map.set(path, {
            // A byte count, or nothing: `1e999` parses as Infinity and would break every sum and figure after it.
            narSize: Number.isSafeInteger(o.narSize) && o.narSize >= 0 ? o.narSize : 0,
            // 2.19+ may print references as base names; keep them all as full paths.
            references: refs.map(r => (r.startsWith('/') ? r : `${storeDirOf(path)}/${r}`))
        });
    };
    if (Array.isArray(data)) {
        for (const entry of data) {
            if (entry && typeof entry === 'object' && typeof entry.path === 'string') {
                add(entry.path, entry);
            }
        }
    }
    else if (isVersion2(data)) {
        for (const [name, v] of Object.entries(data.info))
            add(name.startsWith('/') ? name : `${data.storeDir}/${name}`, v);
    }
    else if (data && typeof data === 'object') {
        for (const [path, v] of Object.entries(data))
            add(path, v);
    }
    else {
        throw new Error('nix path-info --json printed neither an array nor an object');
    }
    return map;
}
function isVersion2(data) {
    if (!data || typeof data !== 'object' || Array.isArray(data))
        return false;
    const o = data;
    return (typeof o.version === 'number' &&
        typeof o.storeDir === 'string' &&
        !!o.info &&
        typeof o.info === 'object' &&
        !Array.isArray(o.info));
}
function storeDirOf(path) {
    return path.slice(0, path.lastIndexOf('/'));
}
/** Every path reachable from `root` (itself included), computed from the shared map without asking Nix again. */
function closureOf(root, infos) {
    const seen = new Set();
    const stack = [root];
    while (stack.length > 0) {
        const p = stack.pop();
        if (seen.has(p))
            continue;
        seen.add(p);
        const info = infos.get(p);
        if (info)
            for (const r of info.references)
                if (!seen.has(r))
                    stack.push(r);
    }
    return seen;
}


/***/ }),

/***/ 724:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.BUILT_ATTRIBUTE = exports.CONFIGURATION_SETS = void 0;
exports.canBuild = canBuild;
exports.builderSystems = builderSystems;
exports.parsePlatforms = parsePlatforms;
/** The flake outputs whose entries the action builds, and what it builds of each entry. */
exports.CONFIGURATION_SETS = [
    'nixosConfigurations',
    'homeConfigurations',
    'darwinConfigurations'
];
/**
 * The attribute path under an entry that is its system: NixOS's toplevel, home-manager's activation package,
 * nix-darwin's system.
 */
exports.BUILT_ATTRIBUTE = {
    nixosConfigurations: ['config', 'system', 'build', 'toplevel'],
    homeConfigurations: ['activationPackage'],
    darwinConfigurations: ['system']
};
/** Whether a derivation for `system` can be built here; `builtin` derivations build anywhere. */
function canBuild(platforms, system) {
    return (system === 'builtin' ||
        system === platforms.system ||
        platforms.extra.includes(system) ||
        platforms.builders.includes(system));
}
/**
 * The systems of the machines in a `builders` value (Nix's machines format: one machine per line or `;`, fields
 * `uri systems ssh-key max-jobs …`, `-` for a default; no systems: the local one; `@file` reads that file).
 */
function builderSystems(value, localSystem, read) {
    const systems = new Set();
    const visit = (text, depth) => {
        for (const raw of text.split(/[\n;]/)) {
            const line = raw.replace(/#.*/, '').trim();
            if (line === '')
                continue;
            if (line.startsWith('@')) {
                const included = depth < 4 ? read(line.slice(1).trim()) : undefined;
                if (included !== undefined)
                    visit(included, depth + 1);
                continue;
            }
            const fields = line.split(/\s+/);
            const list = fields[1] === undefined || fields[1] === '-' ? localSystem : fields[1];
            for (const s of list.split(','))
                if (s)
                    systems.add(s);
        }
    };
    visit(value, 0);
    return [...systems];
}
/** The platforms from `nix show-config --json` / `nix config show --json` (values as strings or lists). */
function parsePlatforms(json, read) {
    let data;
    try {
        data = JSON.parse(json);
    }
    catch {
        return undefined;
    }
    if (typeof data !== 'object' || data === null)
        return undefined;
    const value = (name) => {
        const v = data[name]?.value;
        if (typeof v === 'string')
            return v.split(/\s+/).filter(Boolean);
        return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
    };
    const system = value('system')[0];
    if (!system)
        return undefined;
    const builders = data.builders?.value;
    return {
        system,
        extra: value('extra-platforms'),
        builders: builderSystems(typeof builders === 'string' ? builders : '', system, read)
    };
}


/***/ }),

/***/ 6879:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.DEFAULT_BUDGET_SHARE = exports.MIN_WORKER_MEMORY = exports.PROBE_NOISE = exports.PROBE_HOSTS = exports.GROWTH_SHARE = exports.CHUNK_TARGET = void 0;
exports.localMachine = localMachine;
exports.poolOptions = poolOptions;
exports.nextChunkSize = nextChunkSize;
exports.choosePlan = choosePlan;
exports.nextStart = nextStart;
exports.overBudgetMessage = overBudgetMessage;
exports.evaluateToplevels = evaluateToplevels;
exports.parseToplevels = parseToplevels;
const os = __importStar(__nccwpck_require__(857));
const exec_1 = __nccwpck_require__(3190);
const memory_1 = __nccwpck_require__(8820);
const stderr_1 = __nccwpck_require__(4923);
const warnings_1 = __nccwpck_require__(9826);
/**
 * Resident memory below which one process evaluates every host at a flat time per host. Nix (2.8 to current)
 * starts its garbage-collected heap at 25 % of RAM, at most 384 MiB, and does not collect until that is full;
 * below it nothing is scanned again, above it every collection scans everything the process keeps alive. A fleet
 * whose hosts together are predicted to stay below this, from what the probe measured, is light: one process
 * evaluates the rest of it, since a start of Nix and of the flake costs more than such hosts do.
 */
exports.CHUNK_TARGET = 256 * memory_1.MiB;
/**
 * The pool's chunks grow while their predicted peak stays below this share of a worker's memory limit: the other
 * half is room for a prediction from a smaller chunk that was wrong, since a process over its limit costs its
 * chunk's evaluation again.
 */
exports.GROWTH_SHARE = 0.5;
/** Hosts in the probe's second process; its first has one: the difference is the memory of one host. */
exports.PROBE_HOSTS = 2;
/**
 * How far apart the peaks of two processes doing the same light work land: the probe's two processes start at
 * once and either may be the one that fetches the flake's inputs. Measured on the light benchmark fleet (Nix
 * 2.8): one host at 24 and 48 MiB, two hosts at 24 and 31 MiB. The probe's difference counts only above it; a
 * heavy host (60 MiB on the eval-heavy fixture, 0.5–4.5 GB for a NixOS host) is far above.
 */
exports.PROBE_NOISE = 16 * memory_1.MiB;
/** Below this per process, a worker cannot hold even a small flake's evaluation (about 100 MiB before any host). */
exports.MIN_WORKER_MEMORY = 256 * memory_1.MiB;
/** The default budget: this share of MemAvailable, leaving the rest to the runner, the action and the page cache. */
exports.DEFAULT_BUDGET_SHARE = 0.5;
/** This machine's cores and available memory now. */
function localMachine() {
    return { cores: os.availableParallelism(), memAvailable: (0, memory_1.memAvailable)() };
}
/** Workers and budget for `hosts` hosts: at most one per core, per host, and per MIN_WORKER_MEMORY of budget. */
function poolOptions(settings, hosts, machine) {
    const budget = settings.evalMemory !== undefined
        ? settings.evalMemory * memory_1.MiB
        : Math.floor((machine.memAvailable * exports.DEFAULT_BUDGET_SHARE) / memory_1.MiB) * memory_1.MiB;
    const workers = Math.max(1, Math.min(settings.evalWorkers ?? machine.cores, hosts, Math.floor(budget / exports.MIN_WORKER_MEMORY)));
    return { budget, workers, chunkSize: settings.evalChunkSize };
}
/**
 * The size of the next chunk after a process evaluated `hosts` hosts with a peak of `peak` bytes: as many hosts
 * as fit under `target` at the same memory per host (start-up memory counted as the hosts', so the estimate errs
 * on the small side), at least one, at most twice as many as last time (one measurement is not a trend).
 */
function nextChunkSize(hosts, peak, target) {
    // Nothing measured (no /proc): no memory to go by, so as fast as the growth allows.
    if (peak <= 0)
        return 2 * hosts;
    return Math.max(1, Math.min(2 * hosts, Math.floor((hosts * target) / peak)));
}
/**
 * The plan for `remaining` hosts from the probe's processes (one host and PROBE_HOSTS hosts): the memory one more
 * host adds is the difference of their peaks, the rest is the start (Nix, the flake, what every host shares).
 * Light hosts, whose predicted single process stays under `threshold`, are evaluated in one process: each
 * process the pool would start costs that start again. Heavy ones go to the pool.
 */
function choosePlan(probe, remaining, threshold) {
    const byHosts = [...probe].sort((a, b) => a.hosts - b.hosts);
    const measured = byHosts.filter(p => p.peak > 0);
    // A process that ends before the first sample (20 ms) is as light as a process of Nix gets.
    if (measured.length === 0)
        return 'single';
    const small = measured[0];
    const large = measured[measured.length - 1];
    const perHost = byHosts[byHosts.length - 1].peak === 0
        ? // The process with the most hosts was that light: its hosts add nothing the smaller one did not have.
            0
        : large.hosts > small.hosts
            ? Math.max(0, (large.peak - small.peak - exports.PROBE_NOISE) / (large.hosts - small.hosts))
            : // Only the one with the most hosts measured: all of it counted as its hosts', erring on the heavy side.
                large.peak / large.hosts;
    const predicted = Math.max(large.peak, large.peak + (remaining - large.hosts) * perHost);
    return predicted <= threshold ? 'single' : 'pool';
}
/**
 * Where a later evaluation of the same hosts starts, from what this one's processes used. After the light plan,
 * one process again when the largest stayed under `threshold` (the probe's prediction checked against what
 * happened), else the pool at the chunk size that process measures under `target`. After the pool, the pool at
 * the size it started from after the probe (`poolStart`), so that its chunks grow as they did here, without the
 * probe's two processes. After a process died, the size its retries came down to (`current`).
 */
function nextStart(plan, processes, sizes) {
    if (processes.some(p => p.overLimit || p.exitCode > 128))
        return { plan: 'pool', chunkSize: Math.max(1, sizes.current) };
    if (plan === 'pool')
        return { plan: 'pool', chunkSize: Math.max(1, sizes.poolStart ?? sizes.current) };
    const largest = processes.reduce((a, b) => (b.hosts.length > a.hosts.length ? b : a));
    if (largest.peakRss <= sizes.threshold)
        return { plan: 'single' };
    return { plan: 'pool', chunkSize: nextChunkSize(largest.hosts.length, largest.peakRss, sizes.target) };
}
/** The text of a host that cannot be evaluated within the budget. */
function overBudgetMessage(budget) {
    return `evaluation exceeded the memory budget of ${Math.floor(budget / memory_1.MiB)} MiB`;
}
/** A process that died rather than finished: killed here or by a signal (the kernel's OOM killer), or out of memory. */
function died(r) {
    // A signal arrives as 128 + its number, from runProcess() and through a wrapper (GNU time, a shell) alike.
    return r.overLimit === true || r.exitCode > 128 || /^error: out of memory/m.test(r.stderr);
}
/**
 * Evaluates every host's toplevel derivation in a pool of `nix eval` processes, each over a chunk of hosts and
 * each under its share of the memory budget. Inside a chunk every host goes through tryEval; a host that fails
 * there, or a chunk that fails outright, is evaluated alone so that Nix's own message names the error. A process
 * that dies (over its limit, a signal) costs its chunk only: its hosts are retried in halves, then one by one,
 * and a host that dies alone gets one last try with the whole budget, alone, before it is reported.
 *
 * Unless the user chose the chunk size, the first two processes (one host, then PROBE_HOSTS) are a probe: from
 * their peaks, light hosts are evaluated in one process for the rest (choosePlan), heavy ones in chunks that
 * grow while their predicted peak leaves room under the worker's share of the budget (nextChunkSize).
 */
async function evaluateToplevels(nix, flake, hosts, options, flakeArgs = [], set = 'nixosConfigurations') {
    const begun = Date.now();
    const results = new Map();
    const processes = [];
    const limit = Math.floor(options.budget / options.workers);
    const target = limit * exports.GROWTH_SHARE;
    // One process for every host stays under this, or the hosts are heavy.
    const lightLimit = Math.min(exports.CHUNK_TARGET, target);
    const todo = [...hosts];
    const retries = [];
    const last = [];
    // A chunk size from the user wins over where an earlier evaluation ended.
    const start = options.chunkSize === undefined ? options.start : undefined;
    let size = options.chunkSize ?? (start?.plan === 'pool' ? Math.max(1, start.chunkSize) : 1);
    // Without either, the first two processes are the probe: one host, then PROBE_HOSTS.
    const probeSizes = options.chunkSize === undefined && !start && hosts.length > 1 ? [1, exports.PROBE_HOSTS] : [];
    const probeChunks = new Set();
    const probe = [];
    let probeDied = false;
    let plan = start?.plan;
    // The pool's first size past the probe (or the one it was given): where a later evaluation starts.
    let poolStart = start?.plan === 'pool' ? size : undefined;
    const evaluate = async (chunk, chunkLimit, final) => {
        const started = Date.now();
        const r = await nix.evalToplevels(flake, chunk, chunkLimit, flakeArgs, set);
        if (probeChunks.has(chunk)) {
            probe.push({ hosts: chunk.length, peak: r.peakRss ?? 0 });
            if (died(r))
                probeDied = true;
        }
        processes.push({
            hosts: chunk,
            exitCode: r.exitCode,
            overLimit: r.overLimit === true,
            limit: chunkLimit,
            peakRss: r.peakRss ?? 0,
            seconds: (Date.now() - started) / 1000,
            stderr: r.stderr
        });
        // Markers around each host in a chunk attribute its warnings; all that a lone host's process prints is its.
        const warnings = (0, warnings_1.warningsByHost)(r.stderr, chunk);
        const withWarnings = (host, v) => {
            results.set(host, { ...v, warnings: warnings.get(host) ?? [] });
        };
        if (died(r)) {
            if (chunk.length > 1) {
                const half = Math.ceil(chunk.length / 2);
                retries.unshift(chunk.slice(0, half), chunk.slice(half));
                if (options.chunkSize === undefined)
                    size = Math.max(1, Math.min(size, half));
            }
            else if (!final) {
                last.push(chunk[0]);
            }
            else {
                withWarnings(chunk[0], r.overLimit || /^error: out of memory/m.test(r.stderr)
                    ? { error: overBudgetMessage(options.budget) }
                    : { error: deathMessage(r) });
            }
            return;
        }
        const parsed = r.exitCode === 0 ? parseToplevels(r.stdout, chunk) : undefined;
        if (!parsed) {
            if (chunk.length > 1)
                retries.push(...chunk.map(h => [h]));
            else
                withWarnings(chunk[0], { error: evalError(r) });
            return;
        }
        for (const host of chunk) {
            const v = parsed.get(host);
            // Caught by tryEval: alone, without it, Nix prints the real message.
            if (v)
                withWarnings(host, v);
            else
                retries.push([host]);
        }
        if (options.chunkSize === undefined)
            size = nextChunkSize(chunk.length, r.peakRss ?? 0, target);
    };
    const take = () => {
        if (retries.length > 0)
            return retries.shift();
        if (todo.length === 0)
            return undefined;
        if (probeSizes.length > 0) {
            const chunk = todo.splice(0, probeSizes.shift());
            probeChunks.add(chunk);
            return chunk;
        }
        if (plan === undefined && probeChunks.size > 0) {
            // The plan waits for both probe processes; the pool asks again when one ends.
            if (probe.length < probeChunks.size)
                return undefined;
            plan = probeDied ? 'pool' : choosePlan(probe, todo.length, lightLimit);
            if (plan === 'pool') {
                // The pool grows from the larger probe process, whichever of the two ended last.
                const largest = probe.reduce((a, b) => (b.hosts > a.hosts ? b : a));
                if (!probeDied)
                    size = nextChunkSize(largest.hosts, largest.peak, target);
                poolStart = size;
            }
        }
        // One process for the rest: the probe's choice, or an earlier evaluation's.
        if (plan === 'single')
            return todo.splice(0);
        // Near the end, smaller chunks keep every worker busy; a chunk size the user chose is kept as it is.
        const tail = options.chunkSize === undefined ? Math.ceil(todo.length / options.workers) : size;
        return todo.splice(0, Math.max(1, Math.min(size, tail)));
    };
    await pool(options.workers, take, chunk => evaluate(chunk, limit, limit >= options.budget));
    // Hosts that went over a worker's share: alone now, one after the other, with the whole budget.
    for (const host of last)
        await evaluate([host], options.budget, true);
    const next = plan === undefined || processes.length === 0
        ? undefined
        : nextStart(plan, processes, {
            threshold: lightLimit,
            target,
            current: size,
            poolStart
        });
    return {
        results,
        processes,
        options,
        seconds: (Date.now() - begun) / 1000,
        plan,
        ...(probe.length > 0 ? { probe } : {}),
        ...(next ? { next } : {})
    };
}
/** Runs `work` on what `take` gives, at most `workers` at once, until `take` has nothing and nothing runs. */
function pool(workers, take, work) {
    return new Promise((resolve, reject) => {
        let running = 0;
        let failed = false;
        const pump = () => {
            if (failed)
                return;
            let chunk;
            while (running < workers && (chunk = take()) !== undefined) {
                running++;
                work(chunk).then(() => {
                    running--;
                    pump();
                }, (e) => {
                    failed = true;
                    reject(e instanceof Error ? e : new Error(String(e)));
                });
            }
            if (running === 0)
                resolve();
        };
        pump();
    });
}
/**
 * The hosts' toplevels from `nix eval --json` of the pool's expressions: `{host: {drv, out, system} | null}` for a
 * chunk, `{drv, out, system}` for a host alone. undefined when the output is not that (a process cut short).
 */
function parseToplevels(stdout, chunk) {
    let data;
    try {
        data = JSON.parse(stdout);
    }
    catch {
        return undefined;
    }
    const toplevel = (v) => {
        const o = v;
        if (!o || typeof o.drv !== 'string' || typeof o.out !== 'string')
            return null;
        return typeof o.system === 'string'
            ? { drvPath: o.drv, outPath: o.out, system: o.system }
            : { drvPath: o.drv, outPath: o.out };
    };
    if (typeof data !== 'object' || data === null)
        return undefined;
    if (chunk.length === 1) {
        const v = toplevel(data);
        return v ? new Map([[chunk[0], v]]) : undefined;
    }
    const record = data;
    return new Map(chunk.map(h => [h, toplevel(record[h])]));
}
function deathMessage(r) {
    const signal = Object.entries(os.constants.signals).find(([, n]) => n === r.exitCode - 128)?.[0];
    const how = signal ?? `exit code ${r.exitCode}`;
    // SIGKILL is what the kernel's out-of-memory killer sends.
    const oom = signal === 'SIGKILL' ? ', as the out-of-memory killer does' : '';
    const said = (0, exec_1.tail)((0, stderr_1.stripWarnings)(r.stderr), 20);
    return `the evaluation process was killed (${how}${oom})${said ? `:\n${said}` : ''}`;
}
function evalError(r) {
    return (0, exec_1.tail)((0, stderr_1.stripWarnings)(r.stderr), 40) || `nix eval exited with code ${r.exitCode}`;
}


/***/ }),

/***/ 7560:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.WAVE_OPTION = void 0;
exports.nixString = nixString;
exports.nixStringList = nixStringList;
exports.toplevelsExpr = toplevelsExpr;
exports.singleToplevelExpr = singleToplevelExpr;
exports.wavesExpr = wavesExpr;
exports.singleWaveExpr = singleWaveExpr;
const configurations_1 = __nccwpck_require__(724);
const warnings_1 = __nccwpck_require__(9826);
/**
 * A Nix string literal holding `text` verbatim: `"`, `\` and `${` are escaped, so a value from a flake or an
 * input can never become Nix code.
 */
function nixString(text) {
    let out = '"';
    for (const ch of text) {
        if (ch === '"' || ch === '\\' || ch === '$')
            out += `\\${ch}`;
        else if (ch === '\n')
            out += '\\n';
        else if (ch === '\r')
            out += '\\r';
        else if (ch === '\t')
            out += '\\t';
        else
            out += ch;
    }
    return `${out}"`;
}
/** A Nix expression for a list of strings, passed as JSON inside a string literal. */
function nixStringList(items) {
    return `(builtins.fromJSON ${nixString(JSON.stringify(items))})`;
}
/** `.a.b.c` selecting an attribute path, each name quoted. */
function selectPath(path) {
    return path.map(a => `.${'${'}${nixString(a)}}`).join('');
}
/** The platform a derivation is for: only this machine or a builder of that platform can build it. */
const SYSTEM_OF = '(t.system or (t.drvAttrs.system or null))';
/**
 * The `--apply` function that evaluates the chosen hosts' toplevel derivations in one process. Each host goes
 * through `builtins.tryEval`, so one host's `throw` or failed assertion does not abort the others.
 */
function toplevelsExpr(hosts, path = configurations_1.BUILT_ATTRIBUTE.nixosConfigurations) {
    // Markers traced around each host attribute the warnings printed meanwhile (parseEvalWarnings).
    return [
        'cs: builtins.listToAttrs (map (n: {',
        '  name = n;',
        `  value = let t = cs.\${n}${selectPath(path)};`,
        '              r = builtins.tryEval (builtins.seq t.drvPath t.drvPath);',
        `              v = if r.success then { drv = r.value; out = t.outPath; system = ${SYSTEM_OF}; } else null;`,
        `          in builtins.trace ("${warnings_1.HOST_MARKER} " + builtins.toJSON n)`,
        `               (builtins.seq r.success (builtins.trace ("${warnings_1.END_MARKER} " + builtins.toJSON n) v));`,
        `}) ${nixStringList(hosts)})`
    ].join('\n');
}
/** The `--apply` function for one host, without tryEval, so that Nix prints the real error. */
function singleToplevelExpr(host, path = configurations_1.BUILT_ATTRIBUTE.nixosConfigurations) {
    return `cs: let t = cs.${'${'}${nixString(host)}}${selectPath(path)}; in { drv = t.drvPath; out = t.outPath; system = ${SYSTEM_OF}; }`;
}
/** The option that puts a host in a rollout wave (nixos/auto-upgrade.nix); hosts without it are in wave 0. */
exports.WAVE_OPTION = 'config.services.fleet-auto-upgrade.rollout.wave';
/**
 * The `--apply` function that evaluates the chosen hosts' rollout waves in one process, and nothing else of their
 * systems: `or 0` gives 0 where the option does not exist, tryEval gives null where it throws, and a value that
 * is not a whole number gives null too (each such host is then evaluated alone, for Nix's own message).
 */
function wavesExpr(hosts) {
    return [
        'cs: builtins.listToAttrs (map (n: {',
        '  name = n;',
        `  value = let r = builtins.tryEval (cs.\${n}.${exports.WAVE_OPTION} or 0);`,
        '          in if r.success && builtins.isInt r.value then r.value else null;',
        `}) ${nixStringList(hosts)})`
    ].join('\n');
}
/** The `--apply` function for one host's wave, without tryEval, so that Nix prints the real error. */
function singleWaveExpr(host) {
    return `cs: let v = cs.${'${'}${nixString(host)}}.${exports.WAVE_OPTION} or 0; in if builtins.isInt v then v else { type = builtins.typeOf v; }`;
}


/***/ }),

/***/ 4793:
/***/ ((__unused_webpack_module, exports) => {


/**
 * Lock files made of two: the new flake.lock with some inputs held back at the old one's revision, and the
 * `--override-input` arguments that make Nix evaluate such a lock without writing it anywhere.
 */
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.holdBackProblem = holdBackProblem;
exports.holdBackInputs = holdBackInputs;
exports.lockedRef = lockedRef;
exports.holdBackArgs = holdBackArgs;
exports.revisionArgs = revisionArgs;
function parse(text, label) {
    let data;
    try {
        data = JSON.parse(text);
    }
    catch (e) {
        throw new Error(`${label} is not valid JSON: ${e.message}`);
    }
    const lock = data;
    if (!lock || typeof lock !== 'object' || typeof lock.nodes !== 'object' || typeof lock.root !== 'string') {
        throw new Error(`${label} has no "nodes" and "root": not a flake.lock of version 5 or later`);
    }
    return lock;
}
/** The node key a top-level input points to, when it is a node of its own (not a `follows`). */
function rootTarget(lock, input) {
    const t = lock.nodes[lock.root]?.inputs?.[input];
    return typeof t === 'string' ? t : undefined;
}
/** Node keys reachable from `start` through node references (`follows` paths name inputs, not nodes). */
function reachable(lock, start) {
    const seen = new Set();
    const todo = [start];
    while (todo.length > 0) {
        const key = todo.pop();
        if (seen.has(key) || !lock.nodes[key])
            continue;
        seen.add(key);
        for (const t of Object.values(lock.nodes[key].inputs ?? {}))
            if (typeof t === 'string')
                todo.push(t);
    }
    return seen;
}
const stable = (v) => JSON.stringify(v, (_k, x) => x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
    : x);
/** Why `input` cannot be held back in `oldLock` → `newLock`, or undefined when it can. */
function holdBackProblem(oldLock, newLock, input) {
    const o = parse(oldLock, 'the old flake.lock');
    const n = parse(newLock, 'the new flake.lock');
    if (!rootTarget(o, input))
        return `${input} is not locked in the old flake.lock (a new input, or one that follows another)`;
    if (!rootTarget(n, input))
        return `${input} is not locked in the new flake.lock`;
    return undefined;
}
/**
 * The new lock with each of `inputs` (top-level names) back at its old node, with the nodes only it references
 * (its own inputs, locked as the old lock had them). Its `follows` stay paths from the root, so an input it
 * follows is the new lock's. Nodes nothing references any more are dropped; the text is formatted as Nix writes
 * lock files (two spaces, sorted keys, a final newline).
 */
function holdBackInputs(oldLock, newLock, inputs) {
    const o = parse(oldLock, 'the old flake.lock');
    const out = parse(newLock, 'the new flake.lock');
    for (const input of inputs) {
        const problem = holdBackProblem(oldLock, newLock, input);
        if (problem)
            throw new Error(`Cannot hold back ${input}: ${problem}`);
        const oldKey = rootTarget(o, input);
        // Old node keys → keys in the composed lock: the same key when free or holding the same node, else a new one.
        const rename = new Map();
        const subtree = [...reachable(o, oldKey)];
        const taken = new Set(Object.keys(out.nodes));
        for (const key of subtree) {
            let k = key;
            for (let i = 2; taken.has(k) && stable(out.nodes[k]) !== stable(o.nodes[key]); i++)
                k = `${key}_${i}`;
            rename.set(key, k);
            taken.add(k);
        }
        for (const key of subtree) {
            const node = JSON.parse(JSON.stringify(o.nodes[key]));
            if (node.inputs) {
                for (const [name, t] of Object.entries(node.inputs)) {
                    if (typeof t === 'string')
                        node.inputs[name] = rename.get(t) ?? t;
                }
            }
            out.nodes[rename.get(key)] = node;
        }
        const root = out.nodes[out.root];
        root.inputs = { ...root.inputs, [input]: rename.get(oldKey) };
    }
    const live = reachable(out, out.root);
    for (const key of Object.keys(out.nodes))
        if (!live.has(key))
            delete out.nodes[key];
    return `${JSON.stringify(JSON.parse(stable(out)), null, 2)}\n`;
}
/** A query string of a lock entry's attributes (`rev=…&narHash=…`), in a stable order. */
function query(attrs, keep) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!keep.includes(k) || v === undefined || v === null)
            continue;
        if (typeof v === 'boolean')
            q.set(k, v ? '1' : '0');
        else if (typeof v === 'string' || typeof v === 'number')
            q.set(k, String(v));
    }
    const s = q.toString();
    return s === '' ? '' : `?${s}`;
}
/**
 * A lock entry's `locked` attributes as a flake reference that Nix 2.8 and later parse back to the same locked
 * input: `git+file:///src?ref=main&rev=…`, `github:owner/repo/REV?narHash=…`. undefined for a kind it cannot name.
 */
function lockedRef(locked) {
    const str = (k) => (typeof locked[k] === 'string' ? locked[k] : undefined);
    const type = str('type');
    const url = str('url');
    // Only the parameters each kind's URL parser takes (Nix 2.8's fetchers): git's passes any other one on to
    // the repository URL, and path's refuses it. `dir` is the flake reference's own.
    switch (type) {
        case 'git':
        case 'mercurial':
            if (!url || url.includes('?'))
                return undefined;
            return `${type === 'git' ? 'git+' : 'hg+'}${url}${query(locked, ['rev', 'ref', 'submodules', 'shallow', 'dir'])}`;
        case 'github':
        case 'gitlab':
        case 'sourcehut': {
            const owner = str('owner');
            const repo = str('repo');
            const rev = str('rev');
            if (!owner || !repo || !rev)
                return undefined;
            return `${type}:${owner}/${repo}/${rev}${query(locked, ['host', 'dir'])}`;
        }
        case 'path': {
            const p = str('path');
            return p
                ? `path:${p}${query(locked, ['rev', 'narHash', 'revCount', 'lastModified', 'dir'])}`
                : undefined;
        }
        case 'tarball':
        case 'file':
            if (!url || url.includes('?'))
                return undefined;
            return `${type}+${url}${query(locked, ['narHash', 'dir'])}`;
        default:
            return undefined;
    }
}
/**
 * `--override-input` arguments that make Nix evaluate the new lock with `input` at its node in the old lock, its
 * own inputs included (`input/child`). undefined when a node of it cannot be named as a flake reference.
 */
function holdBackArgs(oldLock, input) {
    const o = parse(oldLock, 'the old flake.lock');
    const key = rootTarget(o, input);
    if (!key)
        return undefined;
    const args = [];
    const walk = (k, pathName, depth) => {
        const node = o.nodes[k];
        const ref = node?.locked ? lockedRef(node.locked) : undefined;
        if (!ref || depth > 8)
            return false;
        args.push('--override-input', pathName, ref);
        for (const [name, t] of Object.entries(node.inputs ?? {})) {
            if (typeof t === 'string' && !walk(t, `${pathName}/${name}`, depth + 1))
                return false;
        }
        return true;
    };
    return walk(key, input, 0) ? args : undefined;
}
/** `--override-input` arguments that put a git-based input at another revision (bisecting it). */
function revisionArgs(newLock, input, rev) {
    const n = parse(newLock, 'the new flake.lock');
    const key = rootTarget(n, input);
    const locked = key ? n.nodes[key]?.locked : undefined;
    if (!locked)
        return undefined;
    const ref = lockedRef({ ...stripContent(locked), rev });
    return ref ? ['--override-input', input, ref] : undefined;
}
/** A locked entry without what belongs to one revision only (its content hash, dates and counts). */
function stripContent(locked) {
    return Object.fromEntries(Object.entries(locked).filter(([k]) => !['narHash', 'lastModified', 'revCount'].includes(k)));
}


/***/ }),

/***/ 7848:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.lockedInputs = lockedInputs;
exports.rootInputNames = rootInputNames;
exports.compareLocks = compareLocks;
exports.compareUrl = compareUrl;
exports.lockDate = lockDate;
function parseLock(text, label) {
    let data;
    try {
        data = JSON.parse(text);
    }
    catch (e) {
        throw new Error(`${label} is not valid JSON: ${e.message}`);
    }
    const lock = data;
    if (!lock || typeof lock !== 'object' || typeof lock.nodes !== 'object' || typeof lock.root !== 'string') {
        throw new Error(`${label} has no "nodes" and "root": not a flake.lock of version 5 or later`);
    }
    return lock;
}
function toLocked(raw) {
    const str = (k) => (typeof raw[k] === 'string' ? raw[k] : undefined);
    return {
        type: str('type') ?? 'unknown',
        rev: str('rev'),
        narHash: str('narHash'),
        lastModified: typeof raw.lastModified === 'number' ? raw.lastModified : undefined,
        owner: str('owner'),
        repo: str('repo'),
        host: str('host'),
        url: str('url')
    };
}
/** Locked inputs by input path, walking from the root; inputs that `follow` another are skipped. */
function lockedInputs(text, label = 'flake.lock') {
    const lock = parseLock(text, label);
    const out = new Map();
    const walk = (nodeKey, prefix, depth, seen) => {
        const node = lock.nodes[nodeKey];
        if (!node?.inputs || depth > 8)
            return;
        for (const [name, target] of Object.entries(node.inputs)) {
            if (typeof target !== 'string' || seen.has(target))
                continue;
            const path = prefix ? `${prefix}/${name}` : name;
            const child = lock.nodes[target];
            if (child?.locked)
                out.set(path, toLocked(child.locked));
            walk(target, path, depth + 1, new Set([...seen, target]));
        }
    };
    walk(lock.root, '', 0, new Set([lock.root]));
    return out;
}
/** The top-level input names of a lock file. */
function rootInputNames(text, label = 'flake.lock') {
    const lock = parseLock(text, label);
    return Object.keys(lock.nodes[lock.root]?.inputs ?? {});
}
function identity(l) {
    return l.rev ?? l.narHash ?? JSON.stringify(l);
}
/** Inputs whose locked revision (or content hash, for inputs without one) differs between two lock files. */
function compareLocks(oldText, newText) {
    const before = lockedInputs(oldText, 'the old flake.lock');
    const after = lockedInputs(newText, 'the new flake.lock');
    const names = [...new Set([...before.keys(), ...after.keys()])].sort();
    const changes = [];
    for (const input of names) {
        const o = before.get(input);
        const n = after.get(input);
        if (o && n && identity(o) === identity(n))
            continue;
        changes.push({ input, old: o, new: n, compareUrl: o && n ? compareUrl(o, n) : undefined });
    }
    return changes;
}
const FORGEJO_LIKE = /(^|\.)(codeberg\.org)$|forgejo|gitea/i;
/** A web link from the old to the new revision, for the forges whose URLs are known. */
function compareUrl(o, n) {
    if (!o.rev || !n.rev)
        return undefined;
    if (!/^[0-9a-f]{7,64}$/.test(o.rev) || !/^[0-9a-f]{7,64}$/.test(n.rev))
        return undefined;
    const range = `${o.rev}...${n.rev}`;
    const owner = n.owner === undefined ? undefined : n.owner.split('/').map(encodeURIComponent).join('/');
    const repo = n.repo === undefined ? undefined : encodeURIComponent(n.repo);
    const host = n.host === undefined || /^[A-Za-z0-9.-]+(:\d+)?$/.test(n.host) ? n.host : undefined;
    switch (n.type) {
        case 'github':
            return owner && repo ? `https://${host ?? 'github.com'}/${owner}/${repo}/compare/${range}` : undefined;
        case 'gitlab':
            return owner && repo ? `https://${host ?? 'gitlab.com'}/${owner}/${repo}/-/compare/${range}` : undefined;
        case 'sourcehut':
            return owner && repo ? `https://${host ?? 'git.sr.ht'}/${owner}/${repo}/log/${n.rev}` : undefined;
        case 'git':
        case 'tarball':
            return n.url ? urlCompare(n.url, o.rev, n.rev) : undefined;
        default:
            return undefined;
    }
}
function urlCompare(raw, oldRev, newRev) {
    let url;
    try {
        url = new URL(raw.replace(/^git\+/, ''));
    }
    catch {
        return undefined;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:' && url.protocol !== 'ssh:')
        return undefined;
    const host = url.hostname;
    const path = url.pathname.replace(/\.git$/, '').replace(/\/+$/, '');
    if (!/^\/[^/]+\/[^/]+/.test(path))
        return undefined;
    const base = `https://${host}${path}`;
    if (host === 'github.com')
        return `${base}/compare/${oldRev}...${newRev}`;
    if (host === 'gitlab.com' || /(^|\.)gitlab\./.test(host))
        return `${base}/-/compare/${oldRev}...${newRev}`;
    if (host === 'git.sr.ht')
        return `${base}/log/${newRev}`;
    if (FORGEJO_LIKE.test(host))
        return `${base}/compare/${oldRev}...${newRev}`;
    return undefined;
}
/** `2024-05-31` from a lock file's lastModified (seconds since the epoch, UTC). */
function lockDate(lastModified) {
    return lastModified === undefined ? undefined : new Date(lastModified * 1000).toISOString().slice(0, 10);
}


/***/ }),

/***/ 8971:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.storePathName = storePathName;
exports.splitPackageName = splitPackageName;
exports.versionComponents = versionComponents;
exports.compareVersions = compareVersions;
exports.mergeRenamed = mergeRenamed;
/** The name part of a store path: `/nix/store/<hash>-openssl-3.0.14` → `openssl-3.0.14`. */
function storePathName(path) {
    const base = path.slice(path.lastIndexOf('/') + 1);
    // Store path hashes are 32 characters of Nix's base-32 followed by a dash.
    return /^[0-9a-df-np-sv-z]{32}-/.test(base) ? base.slice(33) : base;
}
/**
 * Splits a store name into package name and version as nvd does: the version starts after the first dash that is
 * followed by a digit, and a `.drv` suffix is dropped (`openssl-3.0.14` → openssl / 3.0.14, `xorg-server-21.1` →
 * xorg-server / 21.1). Unlike `builtins.parseDrvName`, a dash followed by anything else stays in the name: NixOS's
 * `unit--.slice` and `unit-systemd-fsck-.service` are packages without a version.
 */
function splitPackageName(full) {
    const m = /^(.+?)(?:-([0-9].*?))?(?:\.drv)?$/.exec(full);
    return m ? { name: m[1], version: m[2] ?? '' } : { name: full, version: '' };
}
/** Splits a version into components as Nix does: runs of digits, or runs of other characters; `.` and `-` separate. */
function versionComponents(version) {
    const parts = [];
    let i = 0;
    while (i < version.length) {
        const c = version[i];
        if (c === '.' || c === '-') {
            i++;
            continue;
        }
        let j = i;
        if (/[0-9]/.test(c))
            while (j < version.length && /[0-9]/.test(version[j]))
                j++;
        else
            while (j < version.length && !/[0-9.-]/.test(version[j]))
                j++;
        parts.push(version.slice(i, j));
        i = j;
    }
    return parts;
}
/** A component's value when Nix reads it as a number: digits that fit a C `int`; others compare as text. */
function componentNumber(c) {
    if (!/^[0-9]+$/.test(c))
        return undefined;
    const digits = c.replace(/^0+(?=.)/, '');
    if (digits.length > 10 || (digits.length === 10 && digits > '2147483647'))
        return undefined;
    return Number(digits);
}
function componentLess(a, b) {
    const an = componentNumber(a);
    const bn = componentNumber(b);
    if (an !== undefined && bn !== undefined)
        return an < bn;
    if (a === '' && bn !== undefined)
        return true;
    if (a === 'pre' && b !== 'pre')
        return true;
    if (b === 'pre')
        return false;
    // Nix treats `2.3a` as older than `2.3.1`.
    if (bn !== undefined)
        return true;
    if (an !== undefined)
        return false;
    return a < b;
}
/** `builtins.compareVersions`: -1, 0 or 1. */
function compareVersions(a, b) {
    const ca = versionComponents(a);
    const cb = versionComponents(b);
    for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
        const x = ca[i] ?? '';
        const y = cb[i] ?? '';
        if (componentLess(x, y))
            return -1;
        if (componentLess(y, x))
            return 1;
    }
    return 0;
}
const isDigit = (c) => c !== undefined && c >= '0' && c <= '9';
/**
 * nvd's name for a package renamed by a version-like part of its name: `python3.11-requests` and
 * `python3.12-requests` give `python3.{11->12}-requests`; unrelated names give undefined. The two names must share
 * a prefix; the parts that differ (widened to whole runs of digits) must each hold a digit and no `-` or `_`.
 */
function mergeRenamed(before, after) {
    if (before === after)
        return undefined;
    let lcp = 0;
    while (lcp < before.length && lcp < after.length && before[lcp] === after[lcp])
        lcp++;
    if (lcp === 0)
        return undefined;
    let prefix = before.slice(0, lcp);
    const restA = before.slice(lcp);
    const restB = after.slice(lcp);
    let lcs = 0;
    while (lcs < restA.length &&
        lcs < restB.length &&
        restA[restA.length - 1 - lcs] === restB[restB.length - 1 - lcs]) {
        lcs++;
    }
    let suffix = restA.slice(restA.length - lcs);
    let midA = restA.slice(0, restA.length - lcs);
    let midB = restB.slice(0, restB.length - lcs);
    if (midA === '' || midB === '')
        return undefined;
    while (isDigit(prefix[prefix.length - 1])) {
        midA = prefix[prefix.length - 1] + midA;
        midB = prefix[prefix.length - 1] + midB;
        prefix = prefix.slice(0, -1);
    }
    while (isDigit(suffix[0])) {
        midA += suffix[0];
        midB += suffix[0];
        suffix = suffix.slice(1);
    }
    if (midA === midB)
        return undefined;
    if (![...midA].some(c => isDigit(c)) || ![...midB].some(c => isDigit(c)))
        return undefined;
    if (prefix === '' && suffix === '')
        return undefined;
    if (/[-_]/.test(midA) || /[-_]/.test(midB))
        return undefined;
    return `${prefix}{${midA}->${midB}}${suffix}`;
}


/***/ }),

/***/ 4280:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Nix = exports.MIN_NIX = exports.EVAL_FLAGS = void 0;
exports.parseNixVersion = parseNixVersion;
exports.flakeUpdateArgs = flakeUpdateArgs;
exports.pathInfoArgs = pathInfoArgs;
exports.applyToConfigurations = applyToConfigurations;
exports.showConfigArgs = showConfigArgs;
exports.maxJobsConfigured = maxJobsConfigured;
const io = __importStar(__nccwpck_require__(4994));
const fs = __importStar(__nccwpck_require__(9896));
const exec_1 = __nccwpck_require__(3190);
const cache_1 = __nccwpck_require__(3781);
const closure_1 = __nccwpck_require__(2198);
const configurations_1 = __nccwpck_require__(724);
const expr_1 = __nccwpck_require__(7560);
const log_1 = __nccwpck_require__(5384);
const stderr_1 = __nccwpck_require__(4923);
/** Parses `nix --version`: `nix (Nix) 2.8.0`, `nix (Lix, like Nix) 2.91.1`, `nix (Determinate Nix 3.6.2) 2.29.0`. */
function parseNixVersion(text) {
    const line = text.trim().split('\n')[0] ?? '';
    const m = /(\d+)\.(\d+)(?:\.(\d+))?[^\s]*\s*$/.exec(line);
    if (!m)
        throw new Error(`Cannot read the Nix version from: ${JSON.stringify(line.slice(0, 200))}`);
    const implementation = /\bLix\b/.test(line) ? 'Lix' : 'Nix';
    return { implementation, major: +m[1], minor: +m[2], patch: +(m[3] ?? 0), text: line };
}
/** Arguments that update flake.lock in the current directory, for the Nix in use. */
function flakeUpdateArgs(version, inputs) {
    if (inputs.length === 0)
        return ['flake', 'update'];
    // Nix 2.19 made `nix flake update` take input names; Lix has them too and dropped `--update-input`.
    if (version.implementation === 'Lix' || version.major > 2 || version.minor >= 19)
        return ['flake', 'update', ...inputs];
    return ['flake', 'lock', ...inputs.flatMap(i => ['--update-input', i])];
}
/** `nix path-info` of the closures of `paths` as JSON in the shape `parsePathInfo` reads, for the Nix in use. */
function pathInfoArgs(version, paths) {
    // Nix 2.33 deprecated `--json` without `--json-format` (a warning now, an error later); Lix has no such flag.
    const format = version.implementation === 'Nix' && (version.major > 2 || version.minor >= 33);
    return ['path-info', '--recursive', '--json', ...(format ? ['--json-format', '1'] : []), ...paths];
}
/** `nix eval` of a function applied to the flake's whole `nixosConfigurations` (or `set`), as JSON: every host query. */
function applyToConfigurations(flake, apply, set = 'nixosConfigurations') {
    return ['eval', ...exports.EVAL_FLAGS, '--json', `${flake}#${set}`, '--apply', apply];
}
/** `nix show-config` became `nix config show` in Nix 2.20; Lix keeps the old name. */
function showConfigArgs(version) {
    const renamed = version.implementation === 'Nix' && (version.major > 2 || version.minor >= 20);
    return [...(renamed ? ['config', 'show'] : ['show-config']), '--json'];
}
/**
 * Every evaluation reads flake.lock and never writes it: otherwise Nix would lock an input that flake.nix names
 * and flake.lock lacks, before the old lock was compared with the new one.
 */
exports.EVAL_FLAGS = ['--no-write-lock-file'];
/** Oldest Nix whose flake and JSON interfaces this action relies on. */
exports.MIN_NIX = { major: 2, minor: 8 };
/** Every call to Nix goes through here: the binaries, the version's quirks, and the user's extra arguments. */
class Nix {
    nixBin;
    nixStoreBin;
    version;
    extraArgs;
    log;
    constructor(nixBin, nixStoreBin, version, extraArgs, log) {
        this.nixBin = nixBin;
        this.nixStoreBin = nixStoreBin;
        this.version = version;
        this.extraArgs = extraArgs;
        this.log = log;
    }
    /** Where builds also look for prebuilt paths (besides the configured substituters), set by the caller. */
    substituter;
    static async create(extraArgs = [], log = new log_1.MemoryLog()) {
        const nixBin = await io.which('nix', false);
        if (!nixBin) {
            throw new Error('nix was not found on PATH: install Nix (2.8 or later, or Lix) before this step');
        }
        const nixStoreBin = (await io.which('nix-store', false)) || 'nix-store';
        const r = await (0, exec_1.runQuick)(nixBin, ['--version']);
        if (r.exitCode !== 0)
            throw new Error(`nix --version failed (exit ${r.exitCode}): ${(0, exec_1.tail)(r.stderr, 5)}`);
        const version = parseNixVersion(r.stdout);
        if (version.major < exports.MIN_NIX.major || (version.major === exports.MIN_NIX.major && version.minor < exports.MIN_NIX.minor)) {
            throw new Error(`${version.text} is too old: nixos-fleet-update needs Nix 2.8 or later (or Lix)`);
        }
        return new Nix(nixBin, nixStoreBin, version, extraArgs, log);
    }
    async nix(args, options = {}) {
        // Global flags go before the subcommand, where every Nix version accepts them.
        const r = await (0, exec_1.runProcess)(this.nixBin, ['--extra-experimental-features', 'nix-command flakes', ...args, ...this.extraArgs], {
            cwd: options.cwd,
            streamStderr: options.stream ? chunk => this.log.write(chunk) : undefined,
            env: options.env,
            memoryLimit: options.memoryLimit
        });
        // A store named with --store or --to is a target, not a substituter: its errors are reported where it is used.
        if (!args.includes('--store') && !args.includes('--to'))
            this.noteUnreachableCaches(r.stderr);
        return r;
    }
    unreachableCaches = new Set();
    /**
     * Nix retries an unreachable binary cache for seconds in every call before it goes on without it; the step
     * still works, so this only says so, once per cache, with what to change.
     */
    noteUnreachableCaches(stderr) {
        for (const url of (0, stderr_1.unreachableCaches)(stderr)) {
            if (this.unreachableCaches.has(url))
                continue;
            this.unreachableCaches.add(url);
            this.log.warning(`The binary cache ${url} is unreachable (unable to download ${url}/nix-cache-info): every Nix call waits for it before going on without it. ` +
                `Without network access set no substituters (NIX_CONFIG='substituters =', or nix-args: --option substituters ''); ` +
                `otherwise point substituters at a cache this machine can reach.`, { title: 'Binary cache unreachable' });
        }
    }
    /** Names of `nixosConfigurations` (or `set`), from one evaluation. */
    async hostNames(flake, set = 'nixosConfigurations') {
        const r = await this.nix(applyToConfigurations(flake, 'builtins.attrNames', set));
        if (r.exitCode !== 0) {
            throw new Error(`Cannot list ${set} of flake ${flake}:\n${(0, exec_1.tail)(r.stderr, 30)}`);
        }
        const names = JSON.parse(r.stdout);
        if (!Array.isArray(names) || !names.every(n => typeof n === 'string')) {
            throw new Error(`${set} of flake ${flake} did not evaluate to an attribute set`);
        }
        return names;
    }
    platformsRead;
    /** The platforms this Nix builds for, here and on its remote builders (read once); undefined when it cannot say. */
    platforms() {
        this.platformsRead ??= this.nix(showConfigArgs(this.version)).then(r => r.exitCode === 0 ? (0, configurations_1.parsePlatforms)(r.stdout, readOptional) : undefined);
        return this.platformsRead;
    }
    /**
     * One `nix eval` of the toplevels of `hosts` (several: each through tryEval; one: without, so that Nix prints
     * the real error), killed once its resident memory goes over `memoryLimit` bytes. evalpool.ts reads the result.
     * `flakeArgs` (`--override-input NAME REF`) evaluate the flake with inputs other than its lock's.
     */
    evalToplevels(flake, hosts, memoryLimit, flakeArgs = [], set = 'nixosConfigurations') {
        const path = configurations_1.BUILT_ATTRIBUTE[set];
        const apply = hosts.length === 1 ? (0, expr_1.singleToplevelExpr)(hosts[0], path) : (0, expr_1.toplevelsExpr)(hosts, path);
        return this.nix([...applyToConfigurations(flake, apply, set), ...flakeArgs], { memoryLimit });
    }
    /**
     * One `nix eval` of the rollout waves of `hosts` (several: each through tryEval; one: without, so that Nix
     * prints the real error), killed once its resident memory goes over `memoryLimit` bytes. No system is built.
     */
    evalWaves(flake, hosts, memoryLimit) {
        const apply = hosts.length === 1 ? (0, expr_1.singleWaveExpr)(hosts[0]) : (0, expr_1.wavesExpr)(hosts);
        return this.nix(applyToConfigurations(flake, apply), { memoryLimit });
    }
    /**
     * Builds derivations in one process, going on past failures; the build log streams to the job log. Nix builds
     * one derivation at a time unless told otherwise: use every core when no one chose a number of jobs. The
     * outputs get GC roots under `rootsDir` (`build`, `build-2`, …) when every build succeeds: without `--add-root`
     * nix-store warns that the result might be garbage-collected.
     */
    async realise(drvPaths, rootsDir) {
        const jobs = maxJobsConfigured(this.extraArgs, process.env) ? [] : ['--max-jobs', 'auto'];
        const root = ['--add-root', `${rootsDir}/build`, '--indirect'];
        const s = this.substituter;
        // `extra-` settings add to what nix.conf has; a daemon accepts them only from trusted users, or for URLs
        // in its trusted-substituters.
        const substitute = s
            ? ['--option', 'extra-substituters', s.url, '--option', 'extra-trusted-public-keys', s.publicKey]
            : [];
        const r = await (0, exec_1.runProcess)(this.nixStoreBin, ['--realise', '--keep-going', ...root, ...jobs, ...substitute, ...this.extraArgs, ...drvPaths], { streamStderr: chunk => this.log.write(chunk) });
        if (s)
            warnUnusedSubstituter(r.stderr, this.log);
        this.noteUnreachableCaches(r.stderr);
        return r;
    }
    /** Opens a store, as a copy to it or a substitution from it would: undefined when that works, else why not. */
    async storeProblem(url) {
        const r = await this.nix(['store', 'ping', '--store', url], { env: (0, cache_1.storeCredentials)(url, process.env) });
        return r.exitCode === 0 ? undefined : (0, exec_1.tail)((0, stderr_1.stripWarnings)(r.stderr), 10) || `exit code ${r.exitCode}`;
    }
    /** Signs `paths` and their closures in the local store with the secret key in `keyFile`. */
    async signClosures(keyFile, paths) {
        return this.nix(['store', 'sign', '--key-file', keyFile, '--recursive', ...paths]);
    }
    /** Copies `paths` and their closures to the store at `url` in one process; Nix skips what is there. */
    async copyTo(url, paths) {
        // Not streamed: one line per path, and the line names the store.
        return this.nix(['copy', '--to', url, ...paths], { env: (0, cache_1.storeCredentials)(url, process.env) });
    }
    /**
     * The paths that are not valid in the store. A path on disk is not necessarily valid: a build killed after it
     * created its output leaves the directory behind, unregistered, and only the store's database knows.
     */
    async invalidPaths(paths) {
        if (paths.length === 0)
            return new Set();
        const r = await (0, exec_1.runProcess)(this.nixStoreBin, ['--check-validity', '--print-invalid', ...paths]);
        if (r.exitCode !== 0)
            throw new Error(`nix-store --check-validity failed:\n${(0, exec_1.tail)(r.stderr, 20)}`);
        return new Set(r.stdout.split('\n').filter(Boolean));
    }
    /** Indirect GC roots under `dir` for built paths, so a garbage collection cannot remove them mid-run. */
    async addRoots(dir, paths) {
        if (paths.length === 0)
            return;
        const r = await (0, exec_1.runProcess)(this.nixStoreBin, [
            '--realise',
            '--add-root',
            `${dir}/result`,
            '--indirect',
            ...paths
        ]);
        if (r.exitCode !== 0)
            throw new Error(`Cannot register GC roots in ${dir}:\n${(0, exec_1.tail)(r.stderr, 20)}`);
    }
    /** Store path metadata of the closures of `paths`, in one query. */
    async pathInfo(paths) {
        if (paths.length === 0)
            return new Map();
        const r = await this.nix(pathInfoArgs(this.version, paths));
        if (r.exitCode !== 0)
            throw new Error(`nix path-info failed:\n${(0, exec_1.tail)(r.stderr, 20)}`);
        return (0, closure_1.parsePathInfo)(r.stdout);
    }
    /** A failed derivation's build log (its last lines), or undefined when Nix kept none. */
    async buildLog(drvPath, lines) {
        const r = await this.nix(['log', drvPath]);
        if (r.exitCode !== 0 || r.stdout.trim() === '')
            return undefined;
        return (0, exec_1.tail)(r.stdout, lines);
    }
    /** Those of `drvPaths` with an output that is not a valid store path. */
    async unbuilt(drvPaths) {
        const outputs = new Map();
        for (const drv of drvPaths) {
            const q = await (0, exec_1.runProcess)(this.nixStoreBin, ['--query', '--outputs', drv]);
            const paths = q.stdout.split('\n').filter(Boolean);
            if (q.exitCode === 0 && paths.length > 0)
                outputs.set(drv, paths);
        }
        let invalid;
        try {
            invalid = await this.invalidPaths([...outputs.values()].flat());
        }
        catch {
            // A validity query that fails proves nothing was built: every candidate counts as unbuilt.
        }
        return [...outputs].filter(([, paths]) => !invalid || paths.some(p => invalid.has(p))).map(([drv]) => drv);
    }
    /** The closure of a store path or derivation (`nix-store --query --requisites`), or undefined on failure. */
    async requisites(storePath) {
        const r = await (0, exec_1.runProcess)(this.nixStoreBin, ['--query', '--requisites', storePath]);
        return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : undefined;
    }
    /** Derivations that depend on `drvPath`, itself included. */
    async dependents(drvPath) {
        const r = await (0, exec_1.runProcess)(this.nixStoreBin, ['--query', '--referrers-closure', drvPath]);
        if (r.exitCode !== 0)
            return new Set([drvPath]);
        return new Set(r.stdout.split('\n').filter(Boolean));
    }
    /** Updates flake.lock in `dir` (all inputs, or the named ones). */
    async updateLock(dir, inputs) {
        const args = flakeUpdateArgs(this.version, inputs);
        return this.nix(args, { cwd: dir, stream: true });
    }
}
exports.Nix = Nix;
/** Says why the builds did not fetch from the binary cache, when Nix said so (it goes on and builds). */
function warnUnusedSubstituter(stderr, log) {
    if (/ignoring untrusted substituter/.test(stderr)) {
        log.warning('Nix ignored the binary cache: the user running this step is not a trusted user of the Nix daemon, and the cache is not in its trusted-substituters (see the README)');
    }
    const unsigned = /^warning: the substitute for '[^']+' from '[^']+' is not signed by any of the keys/m;
    if (unsigned.test(stderr)) {
        log.warning("The binary cache holds paths that are not signed by a trusted key, so they were built instead: was the signing key changed? List the old key in 'push-public-key' too, or start a new cache");
    }
}
/** Whether the user set max-jobs: in nix-args, NIX_CONFIG, or a nix.conf that Nix reads. */
function maxJobsConfigured(args, env, read = readOptional) {
    if (args.some((a, i) => a === '--max-jobs' ||
        a === '-j' ||
        /^-j\d+$/.test(a) ||
        (a === '--option' && args[i + 1] === 'max-jobs'))) {
        return true;
    }
    const configDirs = [
        env.NIX_CONF_DIR ?? '/etc/nix',
        ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':').map(d => `${d}/nix`),
        `${env.XDG_CONFIG_HOME ?? `${env.HOME ?? ''}/.config`}/nix`
    ];
    const texts = [env.NIX_CONFIG ?? '', ...configDirs.map(d => read(`${d}/nix.conf`) ?? '')];
    return texts.some(t => /^\s*max-jobs\s*=/m.test(t));
}
function readOptional(file) {
    try {
        return fs.readFileSync(file, 'utf8');
    }
    catch {
        return undefined;
    }
}


/***/ }),

/***/ 7052:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.pendingChanges = pendingChanges;
const names_1 = __nccwpck_require__(8971);
function versionsByName(paths, drvs) {
    const out = new Map();
    for (const p of paths) {
        const base = (0, names_1.storePathName)(p);
        if (drvs !== base.endsWith('.drv'))
            continue;
        const { name, version } = (0, names_1.splitPackageName)(base);
        if (!version)
            continue;
        const set = out.get(name) ?? new Set();
        set.add(version);
        out.set(name, set);
    }
    return out;
}
/**
 * What a host whose new system failed to build would have received, as far as the derivations tell: for every
 * versioned package of the old system's closure, the versions the new system's derivation closure has under the
 * same name. That closure holds build-time packages too, so a name whose old versions are all still there says
 * nothing and is left out.
 */
function pendingChanges(oldClosure, newDrvClosure) {
    const before = versionsByName(oldClosure, false);
    const after = versionsByName(newDrvClosure, true);
    const out = [];
    for (const [name, old] of before) {
        const next = after.get(name);
        if (!next || [...old].every(v => next.has(v)))
            continue;
        const sort = (s) => [...s].sort(names_1.compareVersions);
        out.push({ name, before: sort(old), after: sort(next) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}


/***/ }),

/***/ 4923:
/***/ ((__unused_webpack_module, exports) => {


/** Parsers of what Nix prints on stderr, across the versions it supports (2.8 to 2.34, Lix). */
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.unreachableCaches = unreachableCaches;
exports.stripWarnings = stripWarnings;
exports.failedDerivations = failedDerivations;
exports.timedOutDerivations = timedOutDerivations;
exports.unnamedTimeOut = unnamedTimeOut;
exports.startedDerivations = startedDerivations;
/** Binary caches whose `nix-cache-info` Nix could not download (`unable to download 'URL/nix-cache-info'`). */
function unreachableCaches(stderr) {
    const urls = [...stderr.matchAll(/unable to download '([^'\s]+?)\/nix-cache-info'/g)].map(m => m[1]);
    return [...new Set(urls)];
}
/** Nix's stderr without its warning lines (`warning: Git tree … is dirty`, evaluation and trace warnings). */
function stripWarnings(stderr) {
    return stderr
        .split('\n')
        .filter(l => !/^(warning|evaluation warning|trace: warning): /.test(l))
        .join('\n');
}
/** Nix 2.8: `building of '…drv!*' from .drv file timed out after N seconds`. */
const TIMED_OUT = /^\s*error: building of '([^'!^]+\.drv)[^']*'.* timed out after/gm;
/**
 * Derivations that failed to build, from Nix's own error lines: `builder for '…drv' failed` (Nix 2.8 to 2.2x,
 * Lix), `Cannot build '…drv'. Reason: builder failed` (newer Nix), `hash mismatch in fixed-output derivation`.
 * Lines quoted from a build log (`> …`) are not Nix's and are ignored.
 */
function failedDerivations(stderr) {
    const out = new Set();
    const patterns = [
        /^\s*error: builder for '([^']+\.drv)' failed/gm,
        /^\s*error: build of '([^']+\.drv)' on '[^']*' failed/gm,
        /^\s*error: Cannot build '([^']+\.drv)'\.\s*\n\s*Reason: builder failed/gm,
        /^\s*error: hash mismatch in fixed-output derivation '([^']+\.drv)'/gm,
        TIMED_OUT
    ];
    for (const re of patterns)
        for (const m of stderr.matchAll(re))
            out.add(m[1]);
    return [...out];
}
/** Derivations that Nix killed for running past `timeout` or `max-silent-time`. */
function timedOutDerivations(stderr) {
    return new Set([...stderr.matchAll(TIMED_OUT)].map(m => m[1]));
}
/**
 * Whether Nix reported a time-out without naming the derivation: Nix 2.34's `nix-store --realise` prints only
 * `error: timed out after N seconds`. The derivations it killed are then among those it started and did not finish.
 */
function unnamedTimeOut(stderr) {
    return /^\s*error: timed out after \d+ seconds?\s*$/m.test(stderr);
}
/** Derivations that Nix started building, from its `building '…drv'...` lines (local and remote builds). */
function startedDerivations(stderr) {
    return [...new Set([...stderr.matchAll(/^building '([^']+\.drv)'/gm)].map(m => m[1]))];
}


/***/ }),

/***/ 3904:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseUnitFile = parseUnitFile;
exports.unitBool = unitBool;
exports.compareUnits = compareUnits;
exports.unitFile = unitFile;
exports.reachable = reachable;
exports.activeUnits = activeUnits;
exports.classifyUnits = classifyUnits;
exports.readUnitTree = readUnitTree;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
/** Parses one unit file (or drop-in) into `into`, as switch-to-configuration's parse_systemd_ini does. */
function parseUnitFile(text, into = new Map()) {
    let section;
    // Values of one key within this file, gathered before they are merged: an empty value clears them.
    const local = new Map();
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#') || line.startsWith(';'))
            continue;
        const head = /^\[(.*)\]$/.exec(line);
        if (head) {
            // [Install] has nothing switch-to-configuration looks at.
            if (head[1] === 'Install') {
                section = undefined;
                continue;
            }
            section = into.get(head[1]) ?? new Map();
            into.set(head[1], section);
            continue;
        }
        const eq = line.indexOf('=');
        if (!section || eq < 0)
            continue;
        const key = line.slice(0, eq).trim();
        const value = line.slice(eq + 1).trim();
        const keys = local.get(section) ?? new Map();
        local.set(section, keys);
        const entry = keys.get(key) ?? { values: [], clear: false };
        keys.set(key, entry);
        if (value === '') {
            entry.values = [];
            entry.clear = true;
        }
        else {
            entry.values.push(value);
        }
    }
    for (const [sec, keys] of local) {
        for (const [key, { values, clear }] of keys) {
            const existing = sec.get(key);
            sec.set(key, existing && !clear ? [...existing, ...values] : values);
        }
    }
    return into;
}
/** A boolean setting as systemd reads it (`1`, `yes`, `true`, `on`), the last value winning. */
function unitBool(info, section, key, fallback) {
    const values = info?.get(section)?.get(key);
    const last = values?.[values.length - 1];
    return last === undefined ? fallback : ['1', 'yes', 'true', 'on'].includes(last);
}
/** [Unit] keys whose change does not restart a unit (switch-to-configuration's list). */
const UNIT_IGNORED = new Set([
    'X-Reload-Triggers',
    'Description',
    'Documentation',
    'OnFailure',
    'OnSuccess',
    'OnFailureJobMode',
    'IgnoreOnIsolate',
    'StopWhenUnneeded',
    'RefuseManualStart',
    'RefuseManualStop',
    'AllowIsolate',
    'CollectMode',
    'SourcePath'
]);
const sameValues = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
/** switch-to-configuration's compare_units: equal, or a change that needs a reload, or one that needs a restart. */
function compareUnits(current, next) {
    let result = 'equal';
    const newSections = new Set(next.keys());
    for (const [name, keys] of current) {
        const nextKeys = next.get(name);
        if (!nextKeys) {
            // A removed [Unit] section matters only for keys that are not ignored.
            if (name === 'Unit' && [...keys.keys()].every(k => UNIT_IGNORED.has(k)))
                continue;
            return 'restart';
        }
        newSections.delete(name);
        const newKeys = new Set(nextKeys.keys());
        for (const [key, value] of keys) {
            newKeys.delete(key);
            const nextValue = nextKeys.get(key);
            if (!nextValue) {
                if (name === 'Unit' && UNIT_IGNORED.has(key))
                    continue;
                return 'restart';
            }
            if (sameValues(value, nextValue))
                continue;
            if (name === 'Unit' && key === 'X-Reload-Triggers') {
                result = 'reload';
                continue;
            }
            if (name === 'Unit' && UNIT_IGNORED.has(key))
                continue;
            if (name === 'Mount' && key === 'Options') {
                result = 'reload';
                continue;
            }
            return 'restart';
        }
        for (const key of newKeys) {
            if (name !== 'Unit')
                return 'restart';
            if (key === 'X-Reload-Triggers')
                result = 'reload';
            else if (!UNIT_IGNORED.has(key))
                return 'restart';
        }
    }
    if (newSections.size > 0) {
        if (newSections.size !== 1 || !newSections.has('Unit'))
            return 'restart';
        for (const key of next.get('Unit')?.keys() ?? []) {
            if (!UNIT_IGNORED.has(key))
                return 'restart';
            if (key === 'X-Reload-Triggers')
                result = 'reload';
        }
    }
    return result;
}
const TEMPLATE = /^(.*)@[^.]*\.(.*)$/;
/** A unit's parsed file: its own, else its template's (`getty@tty1.service` → `getty@.service`). */
function unitFile(tree, unit) {
    const own = tree.units.get(unit);
    if (own)
        return own;
    const t = TEMPLATE.exec(unit);
    return t ? tree.units.get(`${t[1]}@.${t[2]}`) : undefined;
}
const DEP_KEYS = ['Wants', 'Requires', 'BindsTo', 'Upholds'];
function dependencies(tree, unit) {
    const info = unitFile(tree, unit);
    const out = [...(tree.wants.get(unit) ?? [])];
    if (info && info !== 'masked') {
        for (const key of DEP_KEYS) {
            for (const v of info.get('Unit')?.get(key) ?? [])
                out.push(...v.split(/\s+/).filter(Boolean));
        }
    }
    return out;
}
/** Units reachable from `roots` through Wants/Requires/BindsTo/Upholds and the `.wants`-style directories. */
function reachable(tree, roots) {
    const seen = new Set();
    const queue = [...roots];
    while (queue.length > 0) {
        const unit = queue.pop();
        if (seen.has(unit))
            continue;
        const info = unitFile(tree, unit);
        if (!info || info === 'masked')
            continue;
        seen.add(unit);
        queue.push(...dependencies(tree, unit));
    }
    return seen;
}
/**
 * The units that are active on a host running this system, as far as the system says: what the default target
 * (else multi-user.target) pulls in, except one-shot services that have exited (no `RemainAfterExit`). Units
 * started by hand, by a timer, a socket, a path or D-Bus are not known to be running.
 */
function activeUnits(tree) {
    const active = reachable(tree, [tree.defaultTarget ?? 'multi-user.target']);
    for (const unit of [...active]) {
        const info = unitFile(tree, unit);
        if (info &&
            info !== 'masked' &&
            unit.endsWith('.service') &&
            (info.get('Service')?.get('Type') ?? []).slice(-1)[0] === 'oneshot' &&
            !unitBool(info, 'Service', 'RemainAfterExit', false)) {
            active.delete(unit);
        }
    }
    return active;
}
/** Units the report leaves out: they are started or kept by others, and never restarted for themselves. */
const UNLISTED = /\.(target|slice|device|scope)$/;
const SLEEP_TARGETS = new Set(['suspend.target', 'hibernate.target', 'hybrid-sleep.target']);
/** What switch-to-configuration would do moving from `current` to `next`, both running as far as we can tell. */
function classifyUnits(current, next) {
    const active = activeUnits(current);
    const stop = new Set();
    const start = new Set();
    const restart = new Set();
    const reload = new Set();
    const skip = new Set();
    const targets = [];
    const handleModified = (unit, info) => {
        if (/^(sysinit|basic|multi-user|graphical)\.target$/.test(unit) || /\.(unit|slice)$/.test(unit))
            return;
        if (unit.endsWith('.mount')) {
            // Unmounting / or /nix is not an option: those are reloaded (remounted).
            if (unit === '-.mount' || unit === 'nix.mount')
                reload.add(unit);
            else
                restart.add(unit);
            return;
        }
        // switch-to-configuration does nothing for changed sockets.
        if (unit.endsWith('.socket'))
            return;
        if (unit.startsWith('systemd-nspawn@'))
            return;
        if (unitBool(info, 'Service', 'X-ReloadIfChanged', false) && !restart.has(unit) && !stop.has(unit)) {
            reload.add(unit);
        }
        else if (!unitBool(info, 'Service', 'X-RestartIfChanged', true) ||
            unitBool(info, 'Unit', 'RefuseManualStop', false) ||
            unitBool(info, 'Unit', 'X-OnlyManualStart', false)) {
            skip.add(unit);
        }
        else if (!unitBool(info, 'Service', 'X-StopIfChanged', true) || !unit.endsWith('.service')) {
            restart.add(unit);
            reload.delete(unit);
        }
        else {
            // A socket-activated service is stopped with its socket; the socket starts again and the service on demand.
            let socketActivated = false;
            const declared = (info.get('Service')?.get('Sockets') ?? []).join(' ').split(/\s+/).filter(Boolean);
            const sockets = declared.length > 0 ? declared : [`${unit.replace(/\.[a-z]*$/, '')}.socket`];
            for (const socket of sockets) {
                if (!active.has(socket))
                    continue;
                stop.add(socket);
                if (unitFile(next, socket) && unitFile(next, socket) !== 'masked') {
                    start.add(socket);
                    socketActivated = true;
                }
                reload.delete(unit);
            }
            if (unitBool(info, 'Service', 'X-NotSocketActivated', false))
                socketActivated = false;
            if (!socketActivated)
                start.add(unit);
            stop.add(unit);
            reload.delete(unit);
        }
    };
    for (const unit of [...active].sort()) {
        const old = unitFile(current, unit);
        if (!old || old === 'masked')
            continue;
        const info = unitFile(next, unit);
        if (!info || info === 'masked') {
            if (unitBool(old, 'Unit', 'X-StopOnRemoval', true))
                stop.add(unit);
        }
        else if (unit.endsWith('.target')) {
            // Active targets are started again, which starts what they now want.
            if (!SLEEP_TARGETS.has(unit) &&
                !unitBool(info, 'Unit', 'RefuseManualStart', false) &&
                !unitBool(info, 'Unit', 'X-OnlyManualStart', false)) {
                targets.push(unit);
            }
            if (unitBool(info, 'Unit', 'X-StopOnReconfiguration', false))
                stop.add(unit);
        }
        else {
            const cmp = compareUnits(old, info);
            if (cmp === 'restart')
                handleModified(unit, info);
            else if (cmp === 'reload' && !restart.has(unit))
                reload.add(unit);
        }
    }
    // Starting the active targets starts every unit they now pull in that is not running: new units, and changed
    // ones that were not active (an exited one-shot service runs again). Unchanged inactive units would be started
    // too; they are left out, since which of them are running is known on the host only.
    for (const unit of reachable(next, targets)) {
        if (active.has(unit))
            continue;
        const before = unitFile(current, unit);
        const after = unitFile(next, unit);
        if (!after || after === 'masked')
            continue;
        if (before && before !== 'masked' && compareUnits(before, after) === 'equal')
            continue;
        start.add(unit);
    }
    const sorted = (set) => [...set].filter(u => !UNLISTED.test(u)).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    // A unit both stopped and started is restarted, as far as its users can tell.
    const both = [...stop].filter(u => start.has(u));
    return {
        restart: sorted(new Set([...restart, ...both])),
        reload: sorted(reload),
        start: sorted([...start].filter(u => !stop.has(u) && !restart.has(u))),
        stop: sorted([...stop].filter(u => !start.has(u))),
        notRestarted: sorted(skip)
    };
}
/** Reads a system's `etc/systemd/system`; parsed files are shared through `cache` (by resolved path). */
function readUnitTree(toplevel, cache = new Map()) {
    const dir = path.join(toplevel, 'etc/systemd/system');
    let entries;
    try {
        entries = fs.readdirSync(dir);
    }
    catch {
        return undefined;
    }
    const parse = (file, into) => {
        const real = fs.realpathSync(file);
        if (!into) {
            const hit = cache.get(real);
            if (hit)
                return hit;
        }
        const info = parseUnitFile(fs.readFileSync(real, 'utf8'), into);
        if (!into)
            cache.set(real, info);
        return info;
    };
    const tree = { units: new Map(), wants: new Map() };
    const dropIns = new Map();
    for (const name of entries.sort()) {
        const full = path.join(dir, name);
        let stat;
        try {
            stat = fs.statSync(full);
        }
        catch {
            continue; // a dangling link
        }
        const dep = /^(.+)\.(wants|requires|upholds)$/.exec(name);
        if (stat.isDirectory() && dep) {
            tree.wants.set(dep[1], [...(tree.wants.get(dep[1]) ?? []), ...fs.readdirSync(full)]);
        }
        else if (stat.isDirectory() && name.endsWith('.d')) {
            const confs = fs.readdirSync(full).filter(f => f.endsWith('.conf'));
            dropIns.set(name.slice(0, -2), confs.sort().map(f => path.join(full, f)));
        }
        else if (fs.realpathSync(full) === '/dev/null') {
            tree.units.set(name, 'masked');
        }
        else if (stat.isFile()) {
            tree.units.set(name, parse(full));
            if (name === 'default.target' && fs.lstatSync(full).isSymbolicLink()) {
                const target = path.basename(fs.readlinkSync(full));
                if (target !== name && entries.includes(target))
                    tree.defaultTarget = target;
            }
        }
    }
    for (const [unit, files] of dropIns) {
        const base = tree.units.get(unit);
        if (!base || base === 'masked')
            continue;
        // A copy: the cached base is shared with other hosts.
        const merged = new Map([...base].map(([s, keys]) => [s, new Map(keys)]));
        for (const f of files)
            parse(f, merged);
        tree.units.set(unit, merged);
    }
    return tree;
}


/***/ }),

/***/ 9826:
/***/ ((__unused_webpack_module, exports) => {


/**
 * Evaluation warnings from Nix's stderr. NixOS's `config.warnings` and nixpkgs' `lib.warn` reach stderr in
 * several shapes: `trace: warning: …` (Nix 2.8 and older nixpkgs), `trace: evaluation warning: …` (newer nixpkgs
 * on a Nix without `builtins.warn`), `evaluation warning: …` (`builtins.warn`, Nix 2.23+ and Lix). A message may
 * span several lines; Nix 2.23+ indents the continuation lines under the message.
 */
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.END_MARKER = exports.HOST_MARKER = void 0;
exports.parseEvalWarnings = parseEvalWarnings;
exports.warningsByHost = warningsByHost;
exports.compareWarnings = compareWarnings;
/** Printed (with `builtins.trace`) before and after each host is evaluated, to attribute what it prints. */
exports.HOST_MARKER = 'nixos-fleet-update:host';
exports.END_MARKER = 'nixos-fleet-update:end';
/** Control sequences: Nix strips them when stderr is not a terminal, but a wrapper may not. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
/** A line that starts a new message of Nix's own: anything after a warning that is not one of these continues it. */
const NIX_LINE = /^(trace|warning|evaluation warning|error|info|notice|debug): /;
const WARNING = /^(?:trace: (?:evaluation warning|warning): |evaluation warning: )(.*)$/;
const MARKER = new RegExp(`^trace: (${exports.HOST_MARKER}|${exports.END_MARKER}) ("(?:[^"\\\\]|\\\\.)*")$`);
/** Every evaluation warning in `stderr`, in order, with the host whose markers surround it. */
function parseEvalWarnings(stderr) {
    const out = [];
    let host;
    let current;
    const flush = () => {
        if (!current)
            return;
        const text = current.lines.join('\n').trim();
        if (text)
            out.push({ text, host: current.host });
        current = undefined;
    };
    for (const raw of stderr.replace(ANSI, '').split('\n')) {
        const line = raw.replace(/\r$/, '');
        const marker = MARKER.exec(line);
        if (marker) {
            flush();
            let name;
            try {
                name = JSON.parse(marker[2]);
            }
            catch {
                name = undefined;
            }
            host = marker[1] === exports.HOST_MARKER && typeof name === 'string' ? name : undefined;
            continue;
        }
        const w = WARNING.exec(line);
        if (w) {
            flush();
            // Only `evaluation warning:` (Nix 2.23+) indents its continuation lines; a trace prints them verbatim.
            const indent = line.startsWith('trace: ') ? 0 : line.length - w[1].length;
            current = { lines: [w[1].trimEnd()], indent, host };
            continue;
        }
        if (current && line.trim() !== '' && !NIX_LINE.test(line)) {
            // Nix 2.23+ indents continuation lines to the width of the `evaluation warning: ` prefix.
            const indent = /^ */.exec(line)?.[0].length ?? 0;
            current.lines.push(indent >= current.indent ? line.slice(current.indent) : line.slice(indent));
            continue;
        }
        flush();
    }
    flush();
    return out;
}
/**
 * Warnings per host from one evaluation's stderr. Warnings printed outside every host's markers (while the flake
 * itself is evaluated) go to each host in `all`: they are printed once per process, whichever host comes first.
 */
function warningsByHost(stderr, all) {
    const out = new Map(all.map(h => [h, []]));
    for (const w of parseEvalWarnings(stderr)) {
        const targets = w.host !== undefined && out.has(w.host) ? [w.host] : all;
        for (const h of targets) {
            const list = out.get(h);
            if (!list.includes(w.text))
                list.push(w.text);
        }
    }
    return out;
}
/** Warnings that hosts print after the update and did not before, and those that went away, each listed once. */
function compareWarnings(hosts) {
    const add = (groups, text, host) => {
        groups.set(text, [...(groups.get(text) ?? []), host]);
    };
    const added = new Map();
    const gone = new Map();
    for (const h of hosts) {
        // A phase that was not evaluated says nothing about what went away or came.
        if (!h.before || !h.after)
            continue;
        for (const t of h.after)
            if (!h.before.includes(t))
                add(added, t, h.host);
        for (const t of h.before)
            if (!h.after.includes(t))
                add(gone, t, h.host);
    }
    const list = (m) => [...m].map(([text, hs]) => ({ text, hosts: hs })).sort((a, b) => b.hosts.length - a.hosts.length);
    return { new: list(added), gone: list(gone) };
}


/***/ }),

/***/ 8184:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.isOpenPgpKey = isOpenPgpKey;
exports.openPgpHome = openPgpHome;
exports.signingSubkey = signingSubkey;
exports.checkSigningKeyPassphrase = checkSigningKeyPassphrase;
const io = __importStar(__nccwpck_require__(4994));
const child_process_1 = __nccwpck_require__(5317);
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const exec_1 = __nccwpck_require__(3190);
const INPUT = "Input 'signing-key'";
/** Whether the text is an armored OpenPGP secret key (else it is taken for an SSH key). */
function isOpenPgpKey(text) {
    return /-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text);
}
async function gpgBinary() {
    const gpg = await io.which('gpg', false);
    if (!gpg) {
        throw new Error(`${INPUT} holds an OpenPGP key, and signing with it needs gpg (GnuPG) on PATH: install gnupg before this step`);
    }
    return gpg;
}
/**
 * Imports the armored secret key into a new keyring at `home` (never the user's), gives the agent the passphrase
 * through gpg-preset-passphrase's standard input (never an argument), and checks that it signs without anyone
 * typing anything. Throws an InputError saying what is wrong (no secret key, no key that can sign, a passphrase
 * needed or wrong).
 */
async function openPgpHome(armored, passphrase, home) {
    const gpg = await gpgBinary();
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.chmodSync(home, 0o700);
    // pinentry-mode error: gpg fails at once instead of waiting for a passphrase nobody can type.
    fs.writeFileSync(path.join(home, 'gpg.conf'), 'batch\nno-tty\npinentry-mode error\n', { mode: 0o600 });
    fs.writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-preset-passphrase\n', { mode: 0o600 });
    const env = { GNUPGHOME: home };
    const run = (args, input) => (0, exec_1.runProcess)(gpg, ['--homedir', home, ...args], { env, input });
    const close = async () => {
        const gpgconf = await io.which('gpgconf', false);
        if (gpgconf)
            await (0, exec_1.runProcess)(gpgconf, ['--homedir', home, '--kill', 'gpg-agent'], { env });
        fs.rmSync(home, { recursive: true, force: true });
    };
    try {
        const imported = await run(['--import'], armored.replace(/\r\n?/g, '\n').trim() + '\n');
        if (imported.exitCode !== 0) {
            throw new errors_1.InputError(`${INPUT} is not an OpenPGP key gpg can import: ${lastLine(imported.stderr)}`);
        }
        const listing = await run(['--list-secret-keys', '--with-colons', '--with-keygrip', '--fixed-list-mode']);
        const key = signingSubkey(listing.stdout);
        if (!key) {
            throw new errors_1.InputError(`${INPUT} holds no OpenPGP secret key that can sign (a public key, or a key without the signing capability)`);
        }
        if (passphrase !== '') {
            const preset = await presetBinary();
            const r = await (0, exec_1.runProcess)(preset, ['--homedir', home, '--preset', key.keygrip], {
                env,
                input: passphrase
            });
            if (r.exitCode !== 0)
                throw new Error(`gpg-preset-passphrase failed: ${lastLine(r.stderr)}`);
        }
        const signed = await run(['--local-user', `${key.fingerprint}!`, '--detach-sign', '--armor'], 'check\n');
        if (signed.exitCode !== 0) {
            throw new errors_1.InputError(passphrase === ''
                ? `${INPUT} is an OpenPGP key protected by a passphrase: put it in 'signing-key-passphrase'`
                : `${INPUT}: the key does not sign with the passphrase of 'signing-key-passphrase' (is it the right one?): ${lastLine(signed.stderr)}`);
        }
        return {
            home,
            signingKey: `${key.fingerprint}!`,
            gitConfig: ['-c', 'gpg.format=openpgp', '-c', `user.signingKey=${key.fingerprint}!`],
            close,
            closeSync: () => {
                (0, child_process_1.spawnSync)('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], {
                    env: { PATH: process.env.PATH ?? '', GNUPGHOME: home },
                    stdio: 'ignore'
                });
                fs.rmSync(home, { recursive: true, force: true });
            }
        };
    }
    catch (e) {
        await close();
        throw e;
    }
}
async function presetBinary() {
    const onPath = await io.which('gpg-preset-passphrase', false);
    if (onPath)
        return onPath;
    const gpgconf = await io.which('gpgconf', false);
    if (gpgconf) {
        const r = await (0, exec_1.runProcess)(gpgconf, ['--list-dirs', 'libexecdir']);
        const file = path.join(r.stdout.trim(), 'gpg-preset-passphrase');
        if (r.exitCode === 0 && fs.existsSync(file))
            return file;
    }
    throw new Error("'signing-key-passphrase' is set, and handing it to gpg needs gpg-preset-passphrase (part of GnuPG), which was not found");
}
/**
 * The secret key or subkey that signs, from `gpg --list-secret-keys --with-colons --with-keygrip`: the primary
 * key when it has the `s` capability, else the first usable signing subkey.
 */
function signingSubkey(colons) {
    const keys = [];
    for (const line of colons.split('\n')) {
        const f = line.split(':');
        if (f[0] === 'sec' || f[0] === 'ssb') {
            // Field 2: validity (e expired, r revoked); field 12: capabilities; field 15: `#` for a stub without secret.
            const usable = !['e', 'r', 'd', 'i'].includes(f[1]) && f[11].includes('s') && f[14] !== '#';
            keys.push({ usable });
        }
        else if (f[0] === 'fpr' && keys.length > 0 && !keys[keys.length - 1].fingerprint) {
            keys[keys.length - 1].fingerprint = f[9];
        }
        else if (f[0] === 'grp' && keys.length > 0 && !keys[keys.length - 1].keygrip) {
            keys[keys.length - 1].keygrip = f[9];
        }
    }
    const k = keys.find(x => x.usable && x.fingerprint && x.keygrip);
    return k ? { fingerprint: k.fingerprint, keygrip: k.keygrip } : undefined;
}
function lastLine(text) {
    return (text
        .trim()
        .split('\n')
        .filter(l => l.trim() !== '')
        .pop() ?? 'no message');
}
/** `signing-key-passphrase`: only for an OpenPGP key (an SSH key must have none). */
function checkSigningKeyPassphrase(passphrase, signingKey) {
    if (passphrase === '')
        return '';
    if (!signingKey || !isOpenPgpKey(signingKey)) {
        throw new errors_1.InputError("Input 'signing-key-passphrase' applies to an OpenPGP 'signing-key' only (an SSH key must have no passphrase)");
    }
    return passphrase;
}


/***/ }),

/***/ 9822:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.checkCommitViaApi = checkCommitViaApi;
exports.commitThroughApi = commitThroughApi;
const crypto_1 = __nccwpck_require__(6982);
const errors_1 = __nccwpck_require__(3916);
/** Checks `commit-via-api` against the forge and the other signing input. */
function checkCommitViaApi(commitViaApi, forge, signingKey) {
    if (!commitViaApi)
        return;
    if (forge !== 'github') {
        throw new errors_1.InputError("Input 'commit-via-api' works on GitHub only: Forgejo has no API that commits on a branch the way createCommitOnBranch does (use 'signing-key' there)");
    }
    if (signingKey) {
        throw new errors_1.InputError("Inputs 'commit-via-api' and 'signing-key' both sign the commit: GitHub signs what it commits through its API, so leave 'signing-key' empty");
    }
}
/**
 * Has the forge make the commit (GitHub signs it): on a branch of its own created at `parent`, so that the update
 * branch moves only by the caller's lease-protected push, never through a state where it points into the base
 * branch. The commit is fetched and checked (its parent, and that only `files` changed); the temporary branch is
 * removed again, and a failure to remove it is a warning. Returns the commit's id, now in the local repository.
 */
async function commitThroughApi(git, forge, input) {
    const warnings = [];
    const scratch = `nixos-fleet-update/api-commit-${(0, crypto_1.randomBytes)(6).toString('hex')}`;
    const [headline, ...rest] = input.message.split('\n');
    await forge.createBranch(scratch, input.parent);
    try {
        const oid = await forge.commitFile({
            branch: scratch,
            expectedHeadOid: input.parent,
            files: input.files,
            headline,
            body: rest.join('\n').trim()
        });
        await git.fetchBranches(input.remote, [scratch], false);
        const fetched = await git.output(['rev-parse', `refs/nixos-fleet-update/${scratch}`]);
        const parents = (await git.output(['rev-list', '--parents', '-n', '1', fetched])).split(' ').slice(1);
        const changed = (await git.output(['diff', '--name-only', input.parent, fetched]))
            .split('\n')
            .filter(Boolean);
        if (fetched !== oid ||
            parents.join(' ') !== input.parent ||
            changed.join() !==
                input.files
                    .map(f => f.path)
                    .sort()
                    .join()) {
            throw new Error(`The commit made through the API is not the one asked for: ${oid} (fetched ${fetched}, parents ${parents.join(' ') || 'none'}, changed ${changed.join(', ') || 'nothing'})`);
        }
        return { commit: oid, warnings };
    }
    finally {
        try {
            await forge.deleteBranch(scratch);
        }
        catch (e) {
            warnings.push(`The temporary branch '${scratch}' was not deleted; delete it by hand: ${(0, errors_1.errorMessage)(e)}`);
        }
        await git.exec(['update-ref', '-d', `refs/nixos-fleet-update/${scratch}`]);
    }
}


/***/ }),

/***/ 7578:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.changedTopInputs = changedTopInputs;
exports.attributeRegressions = attributeRegressions;
exports.culpritInputs = culpritInputs;
exports.holdBackFlakeArgs = holdBackFlakeArgs;
exports.holdBackCandidates = holdBackCandidates;
exports.overrideBuilder = overrideBuilder;
const path = __importStar(__nccwpck_require__(6928));
const lock_compose_1 = __nccwpck_require__(4793);
const build_1 = __nccwpck_require__(1806);
/** The top-level inputs a lock change belongs to (`home-manager/nixpkgs` → `home-manager`), each once. */
function changedTopInputs(changes) {
    return [...new Set(changes.map(c => c.input.split('/')[0]))];
}
/**
 * Names the inputs that break each regressed host. One changed input explains every regression without a build.
 * Otherwise the regressed hosts are built with each changed input held back in turn (one build per input, all
 * hosts in it); a host none of those fixes is built with all inputs but one held back, to find inputs that break
 * it on their own. At most `maxBuilds` builds; the same set of held-back inputs is never built twice.
 */
async function attributeRegressions(input) {
    const { regressed, candidates, maxBuilds, tryBuild, log } = input;
    const builds = [];
    if (regressed.length === 0 || candidates.length === 0) {
        return { candidates, hosts: [], builds, boundReached: false };
    }
    if (candidates.length === 1) {
        return {
            candidates,
            hosts: regressed.map(host => ({ host, kind: 'single', culprits: [...candidates] })),
            builds,
            boundReached: false
        };
    }
    const memo = new Map();
    let boundReached = false;
    /** The hosts of `hosts` that build with `heldBack` held back; undefined once the bound is reached. */
    const attempt = async (heldBack, hosts) => {
        const key = [...heldBack].sort().join('\n');
        const known = memo.get(key) ?? new Map();
        const todo = hosts.filter(h => !known.has(h));
        if (todo.length > 0) {
            if (builds.length >= maxBuilds) {
                boundReached = true;
                return undefined;
            }
            const start = Date.now();
            const built = await tryBuild(heldBack, todo);
            const seconds = (Date.now() - start) / 1000;
            builds.push({ heldBack, hosts: todo, built: todo.filter(h => built.has(h)), seconds });
            log.info(`Held back ${heldBack.join(', ')}: ${todo.filter(h => built.has(h)).length} of ${todo.length} regressed hosts build (${seconds.toFixed(1)} s)`);
            for (const h of todo)
                known.set(h, built.has(h));
            memo.set(key, known);
        }
        return new Set(hosts.filter(h => known.get(h)));
    };
    const fixes = new Map();
    for (const c of candidates) {
        const built = await attempt([c], regressed);
        if (!built)
            break;
        fixes.set(c, built);
    }
    const result = new Map();
    const unexplained = [];
    for (const host of regressed) {
        const necessary = candidates.filter(c => fixes.get(c)?.has(host));
        if (necessary.length === 1)
            result.set(host, { host, kind: 'single', culprits: necessary });
        else if (necessary.length > 1)
            result.set(host, { host, kind: 'together', culprits: necessary });
        else if (fixes.size < candidates.length)
            result.set(host, { host, kind: 'unknown', culprits: [...candidates] });
        else
            unexplained.push(host);
    }
    if (unexplained.length > 0) {
        log.info(`No single input held back makes ${unexplained.join(', ')} build: holding back all inputs but one in turn`);
        const breaks = new Map();
        for (const c of candidates) {
            const built = await attempt(candidates.filter(x => x !== c), unexplained);
            if (!built)
                break;
            breaks.set(c, new Set(unexplained.filter(h => !built.has(h))));
        }
        for (const host of unexplained) {
            const alone = candidates.filter(c => breaks.get(c)?.has(host));
            if (breaks.size < candidates.length && alone.length === 0)
                result.set(host, { host, kind: 'unknown', culprits: [...candidates] });
            else if (alone.length > 0)
                result.set(host, { host, kind: alone.length === 1 ? 'single' : 'each', culprits: alone });
            else
                result.set(host, { host, kind: 'unexplained', culprits: [...candidates] });
        }
    }
    if (boundReached)
        log.info(`Attribution stopped at its bound of ${maxBuilds} builds`);
    return { candidates, hosts: regressed.map(h => result.get(h)), builds, boundReached };
}
/** Inputs that some regressed host's attribution holds back, in the candidates' order. */
function culpritInputs(a) {
    const all = new Set(a.hosts.flatMap(h => h.culprits));
    return a.candidates.filter(c => all.has(c));
}
/** `--override-input` arguments holding back `inputs` at their node in `oldLock`. */
function holdBackFlakeArgs(oldLock, inputs) {
    return inputs.flatMap(i => {
        const args = (0, lock_compose_1.holdBackArgs)(oldLock, i);
        if (!args)
            throw new Error(`Cannot name ${i}'s old lock entry as a flake reference`);
        return args;
    });
}
/** Changed inputs that can be held back, and why the others cannot. */
function holdBackCandidates(oldLock, newLock, changes) {
    const candidates = [];
    const notHeldBack = [];
    for (const input of changedTopInputs(changes)) {
        const why = (0, lock_compose_1.holdBackProblem)(oldLock, newLock, input) ??
            ((0, lock_compose_1.holdBackArgs)(oldLock, input) ? undefined : 'its old lock entry cannot be named as a flake reference');
        if (why)
            notHeldBack.push({ input, why });
        else
            candidates.push(input);
    }
    return { candidates, notHeldBack };
}
/** Builds with held-back inputs through `--override-input`, each build with its own GC roots under `rootsDir`. */
function overrideBuilder(nix, flake, oldLock, rootsDir, pool, keep) {
    let n = 0;
    return async (heldBack, hosts) => {
        const flakeArgs = holdBackFlakeArgs(oldLock, heldBack);
        const r = await (0, build_1.buildHosts)(nix, flake, hosts, path.join(rootsDir, `held-${++n}`), pool, { flakeArgs });
        keep?.(heldBack, r);
        return new Set(hosts.filter(h => r.hosts.get(h)?.status === 'built'));
    };
}


/***/ }),

/***/ 1090:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.gitRepositoryUrl = gitRepositoryUrl;
exports.listCommits = listCommits;
exports.bisectCommits = bisectCommits;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const git_1 = __nccwpck_require__(308);
/** Input kinds whose history can be listed with git, and the repository URL to fetch it from. */
function gitRepositoryUrl(locked) {
    const str = (k) => (typeof locked[k] === 'string' ? locked[k] : undefined);
    const owner = str('owner');
    const repo = str('repo');
    switch (str('type')) {
        case 'git':
            return str('url');
        case 'github':
            return owner && repo ? `https://${str('host') ?? 'github.com'}/${owner}/${repo}.git` : undefined;
        case 'gitlab':
            return owner && repo ? `https://${str('host') ?? 'gitlab.com'}/${owner}/${repo}.git` : undefined;
        case 'sourcehut':
            return owner && repo ? `https://${str('host') ?? 'git.sr.ht'}/${owner}/${repo}` : undefined;
        default:
            return undefined;
    }
}
/** A day before the old revision: history fetched from there, a margin for commits dated out of order. */
const SINCE_MARGIN_SECONDS = 86400;
/**
 * The first-parent commits after `oldRev` up to `newRev`, oldest first, from a blobless fetch (commits and trees,
 * no file contents) of `ref` into a scratch repository under `scratchDir`. With `since` (the old revision's
 * lastModified, seconds) only the history from a day before it is fetched, not the whole of it.
 */
async function listCommits(url, ref, oldRev, newRev, scratchDir, since) {
    const dir = fs.mkdtempSync(path.join(scratchDir, 'bisect-'));
    try {
        const git = await git_1.Git.create(dir);
        await git.output(['init', '-q', '--bare']);
        const fetched = await git.exec([
            'fetch',
            '-q',
            '--no-tags',
            '--filter=blob:none',
            ...(since === undefined
                ? []
                : [`--shallow-since=${new Date((since - SINCE_MARGIN_SECONDS) * 1000).toISOString()}`]),
            url,
            // Nix 2.8 locks `ref = "main"`, newer Nix `ref = "refs/heads/main"`.
            ref ? (ref.startsWith('refs/') ? ref : `refs/heads/${ref}`) : 'HEAD'
        ], { timeoutSeconds: 1800 });
        if (fetched.exitCode !== 0) {
            throw new Error(`fetching ${url} failed: ${fetched.stderr.trim().split('\n').slice(-3).join(' ')}`);
        }
        for (const rev of [oldRev, newRev]) {
            if ((await git.exec(['cat-file', '-e', `${rev}^{commit}`])).exitCode !== 0)
                throw new Error(`${rev} is not in the history of ${ref ?? 'the default branch'} of ${url}`);
        }
        if ((await git.exec(['merge-base', '--is-ancestor', oldRev, newRev])).exitCode !== 0)
            throw new Error(`${oldRev.slice(0, 12)} is not an ancestor of ${newRev.slice(0, 12)}`);
        const out = await git.output([
            'log',
            '--first-parent',
            '--reverse',
            '--format=%H %s',
            `${oldRev}..${newRev}`
        ]);
        return out
            .split('\n')
            .filter(Boolean)
            .map(l => ({ rev: l.slice(0, l.indexOf(' ') < 0 ? l.length : l.indexOf(' ')), subject: l.slice(41) }));
    }
    finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
/**
 * Binary search for the first bad commit: the old revision builds, `commits` (oldest first) end at the new one,
 * which does not. `tryRev` builds the hosts at a revision; at most `maxBuilds` builds, then the narrowed range.
 */
async function bisectCommits(input) {
    const { commits, maxBuilds, tryRev, log } = input;
    const steps = [];
    // Indices: -1 is the old revision (good); the last commit is the new revision (bad).
    let good = -1;
    let bad = commits.length - 1;
    while (bad - good > 1 && steps.length < maxBuilds) {
        const mid = Math.floor((good + bad) / 2);
        const rev = commits[mid].rev;
        const start = Date.now();
        const built = await tryRev(rev);
        steps.push({ rev, built, seconds: (Date.now() - start) / 1000 });
        log.info(`Bisecting ${input.input}: ${rev.slice(0, 12)} ${built ? 'builds' : 'fails'} (${bad - good - 1} commits left before it)`);
        if (built)
            good = mid;
        else
            bad = mid;
    }
    const report = { input: input.input, hosts: input.hosts, commits: commits.length, steps };
    if (commits.length === 0)
        return { ...report, error: 'no commits between the old and the new revision' };
    if (bad - good === 1)
        return { ...report, firstBad: commits[bad] };
    return {
        ...report,
        good: good < 0 ? input.oldRev : commits[good].rev,
        bad: commits[bad].rev,
        remaining: bad - good
    };
}


/***/ }),

/***/ 1806:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.buildHosts = buildHosts;
exports.buildEvaluated = buildEvaluated;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const exec_1 = __nccwpck_require__(3190);
const evalpool_1 = __nccwpck_require__(6879);
const configurations_1 = __nccwpck_require__(724);
const stderr_1 = __nccwpck_require__(4923);
const names_1 = __nccwpck_require__(8971);
/** How many failed derivations get their log fetched; the rest are named only. */
const MAX_LOGS = 10;
const LOG_LINES = 25;
/**
 * Evaluates every host's toplevel in a pool of bounded-memory processes (evalpool.ts), then builds all of them in one `nix-store --realise --keep-going`
 * (going on past failures, so one host never stops the others), and attributes the results per host.
 * Systems already in the store (yesterday's "after" is today's "before") are not built again. `flakeArgs`
 * (`--override-input …`) build the flake with other inputs than its lock's. A system for a platform that
 * `target.platforms` does not build is evaluated only (`not-buildable`).
 */
async function buildHosts(nix, flake, hosts, rootsDir, pool = (0, evalpool_1.poolOptions)({}, hosts.length, (0, evalpool_1.localMachine)()), options = {}) {
    const target = options.target ?? { set: 'nixosConfigurations' };
    const evaluation = await (0, evalpool_1.evaluateToplevels)(nix, flake, hosts, pool, options.flakeArgs ?? [], target.set);
    return buildEvaluated(nix, hosts, evaluation, rootsDir, target);
}
/**
 * Builds the systems of `hosts` that `evaluation` evaluated (buildHosts' second half): for a caller that compares
 * evaluations before building, e.g. to skip hosts whose derivation did not change.
 */
async function buildEvaluated(nix, hosts, evaluation, rootsDir, target = { set: 'nixosConfigurations' }) {
    const results = new Map();
    for (const host of hosts) {
        const r = evaluation.results.get(host);
        if (!r || 'error' in r)
            results.set(host, {
                host,
                status: 'eval-failed',
                error: r?.error ?? 'not evaluated',
                warnings: r?.warnings
            });
        else if (target.platforms && r.system !== undefined && !(0, configurations_1.canBuild)(target.platforms, r.system))
            results.set(host, {
                host,
                status: 'not-buildable',
                drvPath: r.drvPath,
                outPath: r.outPath,
                system: r.system,
                warnings: r.warnings
            });
        else
            results.set(host, {
                host,
                status: 'built',
                drvPath: r.drvPath,
                outPath: r.outPath,
                warnings: r.warnings
            });
    }
    const evaluatedOk = [...results.values()].filter(h => h.status === 'built');
    const missing = await nix.invalidPaths([...new Set(evaluatedOk.map(h => h.outPath))]);
    const toBuild = evaluatedOk.filter(h => missing.has(h.outPath));
    let exitCode;
    let stderr = '';
    fs.mkdirSync(rootsDir, { recursive: true });
    if (toBuild.length > 0) {
        const r = await nix.realise([...new Set(toBuild.map(h => h.drvPath))], rootsDir);
        exitCode = r.exitCode;
        stderr = r.stderr;
    }
    // A build that exits 0 made every path valid; otherwise ask the store which ones it made.
    const stillMissing = toBuild.length > 0 && exitCode !== 0
        ? await nix.invalidPaths([...new Set(toBuild.map(h => h.outPath))])
        : new Set();
    const failed = toBuild.filter(h => stillMissing.has(h.outPath));
    const failedDrvs = failed.length > 0 ? (0, stderr_1.failedDerivations)(stderr) : [];
    const timedOut = (0, stderr_1.timedOutDerivations)(stderr);
    if (failed.length > 0 && (0, stderr_1.unnamedTimeOut)(stderr)) {
        const started = (0, stderr_1.startedDerivations)(stderr).filter(d => !failedDrvs.includes(d));
        for (const drv of await nix.unbuilt(started)) {
            failedDrvs.push(drv);
            timedOut.add(drv);
        }
    }
    if (failed.length > 0 && failedDrvs.length === 0) {
        // Nothing failed to build, yet systems are missing: Nix itself could not build (a builder it cannot
        // reach, a full disk, a killed process). That says nothing about the hosts, so it must not pass as
        // host failures.
        throw new Error(`The build stopped without a failing derivation (exit code ${exitCode ?? '?'}), so no host can be judged: ${failed.length} of ${toBuild.length} systems were not built. Nix said:\n${(0, exec_1.tail)((0, stderr_1.stripWarnings)(stderr), LOG_LINES)}`);
    }
    if (failed.length > 0)
        await explainFailures(nix, failed, { failedDrvs, timedOut, stderr, exitCode });
    for (const h of failed)
        h.status = 'build-failed';
    // A build that succeeded registered its roots; the systems that were in the store already, and those that
    // built while another one failed, get theirs here.
    const rooted = new Set(exitCode === 0 ? toBuild.map(h => h.outPath) : []);
    const built = [...results.values()]
        .filter(h => h.status === 'built' && !rooted.has(h.outPath))
        .map(h => h.outPath);
    await nix.addRoots(rootsDir, built);
    return { hosts: results, cached: toBuild.length === 0, exitCode, evaluation };
}
/** Names the derivations that failed under each failed host and attaches the tail of their build logs. */
async function explainFailures(nix, failed, run) {
    const { failedDrvs, timedOut, stderr, exitCode } = run;
    const logs = new Map();
    const culprits = new Map();
    for (const drv of failedDrvs.slice(0, MAX_LOGS)) {
        logs.set(drv, await nix.buildLog(drv, LOG_LINES));
        const dependents = await nix.dependents(drv);
        for (const h of failed) {
            if (dependents.has(h.drvPath))
                culprits.set(h.host, [...(culprits.get(h.host) ?? []), drv]);
        }
    }
    for (const h of failed) {
        const drvs = culprits.get(h.host) ?? [];
        if (drvs.length > 0) {
            const name = (d) => `${(0, names_1.storePathName)(d).replace(/\.drv$/, '')}${timedOut.has(d) ? ' (timed out)' : ''}`;
            h.error = `failed to build: ${drvs.map(name).join(', ')}`;
            h.failedDrvs = drvs;
            const parts = drvs.map(d => logs.get(d)).filter((l) => l !== undefined);
            h.logTail = parts.length > 0 ? parts.join('\n') : (0, exec_1.tail)(stderr, LOG_LINES);
        }
        else {
            h.error =
                exitCode === undefined
                    ? 'not built'
                    : `the build exited with code ${exitCode} without producing ${path.basename(h.outPath)}`;
            h.logTail = (0, exec_1.tail)(stderr, LOG_LINES);
        }
    }
}


/***/ }),

/***/ 6292:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.FLAKE_FILES = void 0;
exports.inspectCheckout = inspectCheckout;
exports.checkHeadOnBase = checkHeadOnBase;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const git_1 = __nccwpck_require__(308);
const words_1 = __nccwpck_require__(2691);
exports.FLAKE_FILES = ['flake.nix', 'flake.lock'];
/**
 * Reads flake.lock from the checked-out commit and refuses a checkout whose flake.nix or flake.lock differ from
 * it: an earlier step's change would be diffed against the wrong base, or committed with a flake.lock that does
 * not match the committed flake.nix.
 */
async function inspectCheckout(flakeDir) {
    const git = await git_1.Git.create(flakeDir);
    const inside = await git.exec(['rev-parse', '--is-inside-work-tree']);
    if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true') {
        // A plain directory (a local run): there is no commit to compare with, only the files.
        const lockPath = path.join(flakeDir, 'flake.lock');
        return {
            oldLock: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : undefined,
            lockInIndex: false
        };
    }
    const head = await git.output(['rev-parse', '--verify', 'HEAD']);
    // Paths as git prints them, relative to the repository's top: flake.nix before flake.lock.
    const changed = (await git.changedFiles(exports.FLAKE_FILES)).sort((a, b) => exports.FLAKE_FILES.indexOf(path.basename(a)) - exports.FLAKE_FILES.indexOf(path.basename(b)));
    if (changed.length > 0) {
        throw new errors_1.InputError(`${changed.join(' and ')} in ${flakeDir} ${changed.length === 1 ? 'differs' : 'differ'} from the checked-out commit ${head.slice(0, 12)}: commit ${changed.length === 1 ? 'it' : 'them'} first, or run on a clean checkout (an earlier step of the job changed ${changed.length === 1 ? 'it' : 'them'}?)`);
    }
    return {
        git,
        head,
        oldLock: await git.fileAt(head, 'flake.lock'),
        lockInIndex: await git.inIndex('flake.lock')
    };
}
/**
 * Fails when `head` has commits that the base branch (as fetched into `baseRef`) does not: the pull request
 * would carry them into the base unreviewed. Being behind the base is fine.
 */
async function checkHeadOnBase(git, head, baseBranch, baseRef) {
    const ahead = await git.commitsBetween(baseRef, head);
    if (ahead.length === 0)
        return;
    const list = ahead
        .slice(0, 10)
        .map(c => `  ${c.sha.slice(0, 12)} ${c.subject}`)
        .join('\n');
    const more = ahead.length > 10 ? `\n  … ${ahead.length - 10} more` : '';
    throw new errors_1.InputError(`The checked-out commit ${head.slice(0, 12)} has ${(0, words_1.plural)(ahead.length, 'commit')} that the base branch '${baseBranch}' does not; the pull request would carry ${ahead.length === 1 ? 'it' : 'them'} into '${baseBranch}' unreviewed:\n${list}${more}\nRun on a checkout of '${baseBranch}', or set 'base-branch' to the branch this checkout is on.`);
}


/***/ }),

/***/ 7855:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.BOOT_LINKS = void 0;
exports.kernelVersion = kernelVersion;
exports.rebootReasons = rebootReasons;
exports.closureSides = closureSides;
exports.diffHosts = diffHosts;
exports.pendingHosts = pendingHosts;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const closure_1 = __nccwpck_require__(2198);
const closure_diff_1 = __nccwpck_require__(8684);
const names_1 = __nccwpck_require__(8971);
const received_1 = __nccwpck_require__(7052);
const units_1 = __nccwpck_require__(3904);
function readText(p) {
    try {
        return fs.readFileSync(p, 'utf8').trim();
    }
    catch {
        return undefined;
    }
}
/** The kernel's version from the name of the store path that `<system>/kernel` links into. */
function kernelVersion(system, read = readLink) {
    const target = read(path.join(system, 'kernel'));
    if (!target)
        return undefined;
    const { version } = (0, names_1.splitPackageName)((0, names_1.storePathName)(storePathOf(target)));
    return version || undefined;
}
/** The boot-critical links of a NixOS system; a change in any of them needs a reboot to take effect. */
exports.BOOT_LINKS = ['kernel', 'initrd', 'kernel-modules'];
function readLink(p) {
    try {
        return fs.readlinkSync(p);
    }
    catch {
        return undefined;
    }
}
/** Which boot links differ between two systems (both given as their toplevel store paths). */
function rebootReasons(before, after, read = readLink) {
    return exports.BOOT_LINKS.filter(link => read(path.join(before, link)) !== read(path.join(after, link)));
}
/**
 * Both systems' closures and package sets as nvd takes them: the references of each `<system>/sw` when both systems
 * have one, else each system's own direct references.
 */
function closureSides(before, after, infos, read = readLink) {
    const sw = [before, after].map(root => {
        const link = read(path.join(root, 'sw'));
        const target = link ? storePathOf(link) : undefined;
        return target && infos.has(target) ? target : undefined;
    });
    const bothSw = sw[0] !== undefined && sw[1] !== undefined;
    return [before, after].map((root, i) => ({
        paths: (0, closure_1.closureOf)(root, infos),
        selected: new Set(infos.get(bothSw ? sw[i] : root)?.references ?? [])
    }));
}
function storePathOf(p) {
    const m = /^(.*\/[0-9a-df-np-sv-z]{32}-[^/]+)/.exec(p);
    return m ? m[1] : p;
}
/** A system's units, or undefined when they cannot be read: the unit lists are left out, the rest goes on. */
function unitTreeOrNone(system, cache) {
    try {
        return (0, units_1.readUnitTree)(system, cache);
    }
    catch {
        return undefined;
    }
}
/**
 * Diffs every host from ONE store query: the closures of all roots, split per host in memory. Boot links, units
 * and versions are NixOS's layout: for home-manager and nix-darwin entries only the closures are compared.
 */
async function diffHosts(nix, pairs, set = 'nixosConfigurations') {
    const infos = await nix.pathInfo([...new Set(pairs.flatMap(p => [p.before, p.after]))]);
    // Hosts share most unit files: each is parsed once.
    const unitCache = new Map();
    return pairs.map(({ host, before, after }) => {
        if (set !== 'nixosConfigurations') {
            return {
                host,
                diff: (0, closure_diff_1.diffClosures)(...closureSides(before, after, infos), infos),
                reboot: [],
                release: {},
                kernel: {}
            };
        }
        const oldUnits = unitTreeOrNone(before, unitCache);
        const newUnits = unitTreeOrNone(after, unitCache);
        return {
            host,
            diff: (0, closure_diff_1.diffClosures)(...closureSides(before, after, infos), infos),
            reboot: rebootReasons(before, after),
            units: oldUnits && newUnits ? (0, units_1.classifyUnits)(oldUnits, newUnits) : undefined,
            release: {
                before: readText(path.join(before, 'nixos-version')),
                after: readText(path.join(after, 'nixos-version'))
            },
            kernel: { before: kernelVersion(before), after: kernelVersion(after) }
        };
    });
}
/** Hosts whose pending changes are worked out; each takes two store queries. */
const MAX_PENDING = 20;
/**
 * For hosts whose new system was evaluated but failed to build: the package versions it would have received,
 * from the old system's closure and the new system's derivations.
 */
async function pendingHosts(nix, hosts) {
    const out = new Map();
    for (const h of hosts.slice(0, MAX_PENDING)) {
        const [old, next] = [await nix.requisites(h.before), await nix.requisites(h.afterDrv)];
        if (old && next)
            out.set(h.host, (0, received_1.pendingChanges)(old, next));
    }
    return out;
}


/***/ }),

/***/ 5803:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.selectHosts = selectHosts;
exports.discover = discover;
exports.hostsPerFlake = hostsPerFlake;
const path = __importStar(__nccwpck_require__(6928));
const settings_1 = __nccwpck_require__(8750);
/** Input `hosts` names entries that `flake`'s configurations output does not have. */
function notInFlake(entries, set, flake, all) {
    return new settings_1.InputError(`Input 'hosts' names ${entries.map(h => JSON.stringify(h)).join(', ')}, not in ${set} of ${flake} (it has: ${all.join(', ') || 'none'})`);
}
/** Applies `hosts` and `exclude-hosts` to the flake's host names. */
function selectHosts(all, explicit, exclude, flake, excludeSource, set = 'nixosConfigurations') {
    const known = new Set(all);
    const unknown = explicit.filter(h => !known.has(h));
    if (unknown.length > 0)
        throw notInFlake(unknown, set, flake, all);
    const candidates = explicit.length > 0 ? [...new Set(explicit)] : all;
    const excluded = candidates.filter(h => exclude.test(h));
    const hosts = candidates.filter(h => !exclude.test(h)).sort();
    if (hosts.length === 0) {
        const filter = [
            explicit.length > 0 ? `hosts: ${explicit.join(' ')}` : undefined,
            excludeSource ? `exclude-hosts: ${excludeSource}` : undefined
        ]
            .filter(Boolean)
            .join('; ');
        throw new settings_1.InputError(`No hosts left to build in ${flake}: ${set} has ${all.length === 0 ? 'no entries' : all.join(', ')}${filter ? ` and the filter (${filter}) leaves none` : ''}`);
    }
    return { all, hosts, excluded: excluded.sort() };
}
async function discover(nix, flake, explicit, exclude, excludeSource, set = 'nixosConfigurations', 
/** The output's names, when already read: not evaluated again. */
names) {
    const all = names ?? (await nix.hostNames(flake, set));
    return selectHosts(all, explicit, exclude, flake, excludeSource, set);
}
/** `./lab`, `lab`, `lab/` and `./lab/` name the same flake; `.` and `./` the top one. */
function sameFlake(a, b) {
    const norm = (s) => path.posix.normalize(s.replace(/\/+$/, '') || '.');
    return norm(a) === norm(b);
}
/**
 * `hosts` over several flakes: `./lab#web` names the host `web` of the flake `./lab`, a plain `web` every flake's
 * host of that name. Every entry must name a host of some flake. Each flake's own list, in the flakes' order; an
 * empty one when `hosts` names none of that flake's hosts (an empty `hosts` leaves every list empty: all hosts).
 */
function hostsPerFlake(explicit, flakes, set = 'nixosConfigurations') {
    const lists = flakes.map(() => []);
    for (const entry of explicit) {
        const hash = entry.indexOf('#');
        if (hash >= 0) {
            const [dir, name] = [entry.slice(0, hash), entry.slice(hash + 1)];
            const i = flakes.findIndex(f => sameFlake(f.label, dir));
            if (i < 0) {
                throw new settings_1.InputError(`Input 'hosts' names ${JSON.stringify(entry)}: ${JSON.stringify(dir)} is not one of the flakes (${flakes.map(f => f.label).join(', ')})`);
            }
            if (!flakes[i].names.includes(name))
                throw notInFlake([entry], set, flakes[i].label, flakes[i].names);
            lists[i].push(name);
            continue;
        }
        const having = flakes.map((f, i) => (f.names.includes(entry) ? i : -1)).filter(i => i >= 0);
        if (having.length === 0) {
            throw new settings_1.InputError(`Input 'hosts' names ${JSON.stringify(entry)}, in ${set} of none of the flakes ${flakes.map(f => f.label).join(', ')}`);
        }
        for (const i of having)
            lists[i].push(entry);
    }
    return lists.map(l => [...new Set(l)]);
}


/***/ }),

/***/ 6997:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.attributeAndHoldBack = attributeAndHoldBack;
exports.heldBackOutput = heldBackOutput;
const path = __importStar(__nccwpck_require__(6928));
const lock_1 = __nccwpck_require__(7848);
const lock_compose_1 = __nccwpck_require__(4793);
const attribute_1 = __nccwpck_require__(7578);
const bisect_1 = __nccwpck_require__(1090);
const build_1 = __nccwpck_require__(1806);
const errors_1 = __nccwpck_require__(3916);
/** A lock entry's `locked` attributes, by top-level input name. */
function lockedNode(lock, input) {
    const data = JSON.parse(lock);
    const key = data.nodes[data.root]?.inputs?.[input];
    return typeof key === 'string' ? data.nodes[key]?.locked : undefined;
}
/**
 * Names the inputs that break the regressed hosts, and with `hold-back: regressing` composes the lock that
 * updates every other input and builds every host with it (one evaluation, one build), so that the report shows
 * what the pull request proposes. With `bisect`, searches each breaking git-based input for its first bad commit.
 * undefined when there is nothing to attribute (no regressed host, no old lock, the search off).
 */
async function attributeAndHoldBack(ctx) {
    const { settings, log } = ctx;
    if (ctx.regressed.length === 0 || ctx.oldLock === '')
        return undefined;
    const { candidates, notHeldBack } = (0, attribute_1.holdBackCandidates)(ctx.oldLock, ctx.newLock, ctx.changes);
    for (const n of notHeldBack)
        log.info(`${n.input} cannot be held back: ${n.why}`);
    if (candidates.length === 0 || (candidates.length > 1 && settings.maxBuilds === 0))
        return undefined;
    const a = await (0, attribute_1.attributeRegressions)({
        regressed: ctx.regressed,
        candidates,
        maxBuilds: settings.maxBuilds,
        tryBuild: (0, attribute_1.overrideBuilder)(ctx.nix, ctx.flake, ctx.oldLock, path.join(ctx.rootsDir, 'attribution'), ctx.pool),
        log
    });
    const attribution = { ...a, notHeldBack };
    // A host the bound left unexplained holds nothing back: it stays a regressed host of the proposed lock.
    const explained = attribution.hosts.filter(h => h.kind !== 'unknown');
    const culprits = (0, attribute_1.culpritInputs)({ candidates, hosts: explained });
    const holding = settings.holdBack === 'regressing';
    const oldInputs = (0, lock_1.lockedInputs)(ctx.oldLock);
    const newInputs = (0, lock_1.lockedInputs)(ctx.newLock);
    const inputs = culprits.map(input => {
        const newLocked = lockedNode(ctx.newLock, input);
        return {
            input,
            old: oldInputs.get(input),
            new: newInputs.get(input),
            newRef: newLocked ? (0, lock_compose_1.lockedRef)(newLocked) : undefined,
            heldBack: holding,
            hosts: explained
                .filter(h => h.culprits.includes(input))
                .map((h) => ({
                host: h.host,
                kind: h.kind,
                others: h.culprits.filter(c => c !== input),
                failedDrvs: ctx.after.hosts.get(h.host)?.failedDrvs ?? [],
                error: ctx.after.hosts.get(h.host)?.error
            }))
        };
    });
    for (const i of inputs) {
        log.warning(`${i.input} breaks ${i.hosts.map(h => h.host).join(', ')}${holding ? ': held back at its old revision' : ''}`, { title: 'An input breaks hosts' });
    }
    const result = { attribution, inputs, nothingLeft: false };
    if (holding && culprits.length > 0) {
        result.proposedLock = (0, lock_compose_1.holdBackInputs)(ctx.oldLock, ctx.newLock, culprits);
        result.proposedChanges = (0, lock_1.compareLocks)(ctx.oldLock, result.proposedLock);
        result.nothingLeft = result.proposedChanges.length === 0;
        if (!result.nothingLeft) {
            result.proposed = await (0, build_1.buildHosts)(ctx.nix, ctx.flake, ctx.hosts, path.join(ctx.rootsDir, 'proposed'), ctx.pool, { flakeArgs: (0, attribute_1.holdBackFlakeArgs)(ctx.oldLock, culprits) });
        }
    }
    if (settings.bisect) {
        for (const i of inputs)
            i.bisect = await bisectInput(ctx, i, culprits);
    }
    return result;
}
/**
 * Bisects one breaking input over the hosts it breaks, in the proposed lock: the other breaking inputs stay at
 * their old revision, except those that break a host only together with this one, which stay at their new one.
 */
async function bisectInput(ctx, input, culprits) {
    const hosts = input.hosts.filter(h => h.kind !== 'unexplained').map(h => h.host);
    const base = { input: input.input, hosts, commits: 0, steps: [] };
    const oldLocked = lockedNode(ctx.oldLock, input.input);
    const newLocked = lockedNode(ctx.newLock, input.input);
    const url = newLocked ? (0, bisect_1.gitRepositoryUrl)(newLocked) : undefined;
    const oldRev = typeof oldLocked?.rev === 'string' ? oldLocked.rev : undefined;
    const newRev = typeof newLocked?.rev === 'string' ? newLocked.rev : undefined;
    if (hosts.length === 0)
        return undefined;
    if (!url || !oldRev || !newRev)
        return { ...base, error: 'not a git-based input with revisions' };
    const partners = new Set(input.hosts.filter(h => h.kind === 'together').flatMap(h => h.others));
    const context = (0, attribute_1.holdBackFlakeArgs)(ctx.oldLock, culprits.filter(c => c !== input.input && !partners.has(c)));
    try {
        const ref = typeof newLocked?.ref === 'string' ? newLocked.ref : undefined;
        const since = typeof oldLocked?.lastModified === 'number' ? oldLocked.lastModified : undefined;
        const commits = await (0, bisect_1.listCommits)(url, ref, oldRev, newRev, ctx.scratchDir, since);
        ctx.log.info(`Bisecting ${input.input}: ${commits.length} commits, at most ${ctx.settings.bisectMaxBuilds} builds`);
        let n = 0;
        return await (0, bisect_1.bisectCommits)({
            input: input.input,
            hosts,
            oldRev,
            commits,
            maxBuilds: ctx.settings.bisectMaxBuilds,
            log: ctx.log,
            tryRev: async (rev) => {
                const args = (0, lock_compose_1.revisionArgs)(ctx.newLock, input.input, rev);
                if (!args)
                    throw new Error(`Cannot name ${input.input} at ${rev} as a flake reference`);
                const r = await (0, build_1.buildHosts)(ctx.nix, ctx.flake, hosts, path.join(ctx.rootsDir, `bisect-${input.input}-${++n}`), ctx.pool, { flakeArgs: [...context, ...args] });
                return hosts.every(h => r.hosts.get(h)?.status === 'built');
            }
        });
    }
    catch (e) {
        return { ...base, error: (0, errors_1.errorMessage)(e) };
    }
}
/** The held-back-inputs output: `[{input, old, new, hosts, firstBad}]`, revisions in full. */
function heldBackOutput(inputs) {
    return JSON.stringify(inputs
        .filter(i => i.heldBack)
        .map(i => ({
        input: i.input,
        old: i.old?.rev ?? i.old?.narHash ?? null,
        new: i.new?.rev ?? i.new?.narHash ?? null,
        hosts: i.hosts.map(h => h.host),
        firstBad: i.bisect?.firstBad?.rev ?? null
    })));
}


/***/ }),

/***/ 3345:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseUpdateInputs = parseUpdateInputs;
exports.resolveInputSelection = resolveInputSelection;
exports.unknownInFlakes = unknownInFlakes;
const errors_1 = __nccwpck_require__(3916);
const lock_1 = __nccwpck_require__(7848);
const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_'-]*(\/[A-Za-z_][A-Za-z0-9_'-]*)*$/;
const TOP_LEVEL_NAME = /^[A-Za-z_][A-Za-z0-9_'-]*$/;
/**
 * Reads `update-inputs`: input names to update, or `!name` entries for every input but those. Mixing both kinds
 * is refused: `a !b` would mean just `a`, and a reader could take it for "everything but b".
 * Returns the entries as written (`!` kept), checked; `resolveInputSelection` turns them into names.
 */
function parseUpdateInputs(value) {
    const entries = value.split(/[\s,]+/).filter(s => s !== '');
    for (const entry of entries) {
        const excluded = entry.startsWith('!');
        const name = excluded ? entry.slice(1) : entry;
        if (!(excluded ? TOP_LEVEL_NAME : INPUT_NAME).test(name)) {
            throw new errors_1.InputError(excluded && INPUT_NAME.test(name)
                ? `Input 'update-inputs' has ${JSON.stringify(entry)}: a '!' entry names a top-level input (updating an input updates its own inputs too)`
                : `Input 'update-inputs' has ${JSON.stringify(entry)}, which is not a flake input name (or '!' and one)`);
        }
    }
    const excluded = entries.filter(e => e.startsWith('!'));
    if (excluded.length > 0 && excluded.length < entries.length) {
        throw new errors_1.InputError(`Input 'update-inputs' mixes input names and '!' entries (${entries.join(' ')}): list either the inputs to update or, each with '!', the inputs to leave as they are`);
    }
    return entries;
}
/**
 * The input names to hand to `nix flake update`, empty meaning all, from the checked entries and the committed
 * lock file (undefined: the commit has none). Names must be in the lock file. `!` entries become every top-level
 * input of the lock file but those, leaving out inputs that `follow` another (they are not locked on their own).
 * With `several` (one flake of several, each name checked against all of them by `unknownInFlakes`), names this
 * lock lacks are skipped; undefined when none is left: nothing of this flake is to be updated.
 */
function resolveInputSelection(entries, lockText, lockPath, several = false) {
    if (entries.length === 0)
        return [];
    const excluded = entries.filter(e => e.startsWith('!')).map(e => e.slice(1));
    if (lockText === undefined) {
        if (excluded.length === 0)
            return entries;
        throw new errors_1.InputError(`Input 'update-inputs' leaves out ${excluded.join(', ')}, but there is no committed ${lockPath} to keep them as they are`);
    }
    const { known, locked, has } = lockNames(lockText, lockPath);
    const unknown = (excluded.length > 0 ? excluded : entries).filter(n => !has(n));
    if (unknown.length > 0 && !several) {
        throw new errors_1.InputError(`Input 'update-inputs' names ${unknown.map(i => JSON.stringify(i)).join(', ')}, not an input of ${lockPath} (it has: ${known.join(', ') || 'none'})`);
    }
    if (excluded.length === 0) {
        // One flake of several takes the names its lock has (every name is one of some flake's: unknownInFlakes).
        const names = several ? entries.filter(has) : entries;
        return names.length > 0 ? names : undefined;
    }
    const rest = known.filter(n => locked.has(n) && !excluded.includes(n));
    if (rest.length === 0) {
        if (several)
            return undefined;
        throw new errors_1.InputError(`Input 'update-inputs' leaves out every input of ${lockPath} that is locked on its own (${excluded.join(', ')}): nothing would be updated`);
    }
    return rest;
}
/** A lock file's top-level input names, its locked inputs, and whether a name is either. */
function lockNames(lockText, lockPath) {
    const known = (0, lock_1.rootInputNames)(lockText, lockPath);
    const locked = (0, lock_1.lockedInputs)(lockText, lockPath);
    return { known, locked, has: n => known.includes(n) || locked.has(n) };
}
/**
 * For several flakes: the `update-inputs` names (or `!` names) that no flake's lock has; a flake without a
 * committed lock may get any name.
 */
function unknownInFlakes(entries, locks) {
    const names = entries.map(e => e.replace(/^!/, ''));
    if (locks.some(l => l.lockText === undefined))
        return [];
    const each = locks.map(l => lockNames(l.lockText, l.lockPath));
    return names.filter(n => !each.some(l => l.has(n)));
}


/***/ }),

/***/ 4235:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parsePeople = parsePeople;
exports.assignPeople = assignPeople;
const errors_1 = __nccwpck_require__(3916);
/** An account name as both forges allow it (GitHub: letters, digits, `-`; Forgejo also `_` and `.`). */
const ACCOUNT = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9_])?$/;
/**
 * Reads `pr-reviewers` or `pr-assignees`: account names separated by spaces, commas or newlines, an `@` in front
 * allowed. Teams (`org/team`) are refused: both forges take them through other fields.
 */
function parsePeople(value, input) {
    const names = [];
    for (const entry of value.split(/[\s,]+/).filter(s => s !== '')) {
        const name = entry.replace(/^@/, '');
        if (name.includes('/')) {
            throw new errors_1.InputError(`Input '${input}' has ${JSON.stringify(entry)}: name user accounts; teams are not supported`);
        }
        if (!ACCOUNT.test(name)) {
            throw new errors_1.InputError(`Input '${input}' has ${JSON.stringify(entry)}, which is not an account name`);
        }
        if (!names.some(n => n.toLowerCase() === name.toLowerCase()))
            names.push(name);
    }
    return names;
}
/**
 * Asks for reviews and assigns the pull request. A name the forge refuses, or a token that may not do it, ends
 * in a warning naming it: the pull request stands either way.
 */
async function assignPeople(forge, pull, people) {
    const result = { reviewers: [], assignees: [], warnings: [] };
    const apply = async (names, what, call) => {
        if (names.length === 0)
            return [];
        let refused;
        try {
            refused = await call(pull, names);
        }
        catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            result.warnings.push(`${what === 'review' ? 'Reviews not requested from' : 'Not assigned to'} ${names.join(', ')} on #${pull}: ${message}`);
            return [];
        }
        for (const r of refused) {
            result.warnings.push(`${what === 'review' ? `Review not requested from '${r.name}'` : `'${r.name}' not assigned`} on #${pull}: ${r.reason}`);
        }
        const no = new Set(refused.map(r => r.name.toLowerCase()));
        return names.filter(n => !no.has(n.toLowerCase()));
    };
    result.reviewers = await apply(people.reviewers, 'review', (n, x) => forge.requestReviewers(n, x));
    result.assignees = await apply(people.assignees, 'assignment', (n, x) => forge.addAssignees(n, x));
    return result;
}


/***/ }),

/***/ 8489:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.repositoryFromRemote = repositoryFromRemote;
exports.preflightPublish = preflightPublish;
exports.runnerFileProblems = runnerFileProblems;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const git_1 = __nccwpck_require__(308);
const settings_1 = __nccwpck_require__(8750);
const credentials_1 = __nccwpck_require__(4110);
const connect_1 = __nccwpck_require__(397);
/**
 * OWNER/NAME from a remote URL: `https://host/owner/name(.git)`, `ssh://git@host:22/owner/name.git`,
 * `git@host:owner/name.git`. Undefined for a local path or a URL with fewer than two path segments.
 */
function repositoryFromRemote(url) {
    let pathPart;
    const scp = /^[^/@:]+@[^/:]+:(.+)$/.exec(url);
    if (scp)
        pathPart = scp[1];
    else {
        let parsed;
        try {
            parsed = new URL(url);
        }
        catch {
            return undefined;
        }
        if (!['http:', 'https:', 'ssh:', 'git:'].includes(parsed.protocol))
            return undefined;
        pathPart = decodeURIComponent(parsed.pathname);
    }
    const segments = pathPart
        .replace(/\/+$/, '')
        .replace(/\.git$/, '')
        .split('/')
        .filter(s => s !== '');
    if (segments.length < 2)
        return undefined;
    const [owner, name] = segments.slice(-2);
    return /^[^\s/]+$/.test(owner) && /^[^\s/]+$/.test(name) ? `${owner}/${name}` : undefined;
}
/**
 * Checks everything a publishing run needs before anything is built: a token, a git checkout with a remote to
 * push to, the repository (GITHUB_REPOSITORY, else the remote's URL), where the forge's API is, a usable
 * signing key, and the runner's files for outputs and state. Every problem is named at once, so that a long
 * build cannot end in "Input 'token' is empty".
 */
async function preflightPublish(settings, env, options) {
    const problems = [];
    if (!settings.token) {
        problems.push("Input 'token' is empty: pushing the branch and opening the pull request need a token");
    }
    let remoteUrl;
    try {
        const git = await git_1.Git.create(settings.flakeDir);
        const top = await git.topLevel();
        remoteUrl = await git.remoteUrl(credentials_1.REMOTE);
        if (!remoteUrl)
            problems.push(`The checkout in ${top} has no remote '${credentials_1.REMOTE}' to push the branch to`);
        else if (settings.token) {
            // The remote answers, with the credentials publishing will use, and has the base branch.
            const g = git.withEnv(await (0, credentials_1.pushCredentials)(git, remoteUrl, settings.token, s => options.log.mask(s)));
            try {
                if (!(await g.remoteBranchSha(credentials_1.REMOTE, settings.baseBranch))) {
                    problems.push(`The base branch '${settings.baseBranch}' does not exist on ${credentials_1.REMOTE}: set 'base-branch' to the branch the pull request targets`);
                }
            }
            catch (e) {
                problems.push((0, errors_1.errorMessage)(e));
            }
        }
    }
    catch (e) {
        problems.push(`${settings.flakeDir} is not in a git checkout, which publishing commits to: ${(0, errors_1.errorMessage)(e)}`);
    }
    let repository = env.GITHUB_REPOSITORY || (remoteUrl ? repositoryFromRemote(remoteUrl) : undefined);
    if (!repository) {
        problems.push(`GITHUB_REPOSITORY is not set${remoteUrl ? ` and the remote's URL names no OWNER/NAME` : ''}: publishing needs the repository as OWNER/NAME`);
        repository = '';
    }
    let forge;
    if (settings.token && repository) {
        try {
            forge = (0, connect_1.makeForge)(settings, { ...env, GITHUB_REPOSITORY: repository }, options.log);
        }
        catch (e) {
            problems.push((0, errors_1.errorMessage)(e));
        }
    }
    if (settings.signingKey && options.checkSigningKey) {
        try {
            await options.checkSigningKey(settings.signingKey, options.scratchDir, settings.signingKeyPassphrase);
        }
        catch (e) {
            problems.push((0, errors_1.errorMessage)(e));
        }
    }
    if (problems.length > 0 || !forge) {
        throw new settings_1.InputError(`Publishing is not possible, so nothing was built:\n${problems.map(p => `- ${p}`).join('\n')}`);
    }
    return { forge, repository };
}
/**
 * The runner's files (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY) must be writable before the work starts:
 * @actions/core refuses a missing GITHUB_OUTPUT file only when the first output is written, after everything.
 */
function runnerFileProblems(env) {
    const problems = [];
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
        const file = env[name];
        if (!file)
            continue;
        // The summary is appended to, which creates it; outputs and state must exist, as the runner makes them.
        const target = name === 'GITHUB_STEP_SUMMARY' && !fs.existsSync(file) ? path.dirname(file) : file;
        try {
            if (target === file && !fs.statSync(file).isFile())
                throw new Error('not a file');
            fs.accessSync(target, fs.constants.W_OK);
        }
        catch (e) {
            const why = e.code === 'ENOENT'
                ? 'does not exist'
                : `cannot be written (${(0, errors_1.errorMessage)(e)})`;
            problems.push(`${name} is ${file}, which ${why}`);
        }
    }
    return problems;
}


/***/ }),

/***/ 597:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.PublishError = void 0;
exports.baseTrackingRef = baseTrackingRef;
exports.checkCheckoutOnBase = checkCheckoutOnBase;
exports.commitMessage = commitMessage;
exports.severalLocksMessage = severalLocksMessage;
exports.publish = publish;
const path = __importStar(__nccwpck_require__(6928));
const merge_1 = __nccwpck_require__(6279);
const git_1 = __nccwpck_require__(308);
const credentials_1 = __nccwpck_require__(4110);
const lock_1 = __nccwpck_require__(7848);
const inert_1 = __nccwpck_require__(2679);
const errors_1 = __nccwpck_require__(3916);
const checkout_1 = __nccwpck_require__(6292);
const people_1 = __nccwpck_require__(4235);
const api_commit_1 = __nccwpck_require__(9822);
const api_commit_2 = __nccwpck_require__(5837);
/**
 * Publishing failed after something was already done (the branch pushed, maybe the pull request opened): the
 * result says what, so that the step's outputs still name the pushed commit and branch.
 */
class PublishError extends Error {
    result;
    cause;
    constructor(message, result, cause) {
        super(message);
        this.result = result;
        this.cause = cause;
    }
}
exports.PublishError = PublishError;
/** Where a branch of the remote is fetched to: the checkout's own branches and remote refs stay as they are. */
function baseTrackingRef(branch) {
    return `refs/nixos-fleet-update/${branch}`;
}
/**
 * Before anything is built: fetches the base branch from the remote (the whole history, in a shallow clone) and
 * fails when the checked-out commit has commits the base lacks. A checkout without the remote cannot publish
 * at all; publishing then fails with its own message.
 */
async function checkCheckoutOnBase(git, head, settings, log) {
    const remoteUrl = await git.remoteUrl(credentials_1.REMOTE);
    if (!remoteUrl)
        return;
    const g = git.withEnv(await (0, credentials_1.pushCredentials)(git, remoteUrl, settings.token, s => log.mask(s)));
    const base = settings.baseBranch;
    const why = `to check that the checkout has no commits that '${base}' lacks`;
    const remoteBase = await g.remoteBranchSha(credentials_1.REMOTE, base);
    if (!remoteBase) {
        throw new Error(`The base branch '${base}' does not exist on ${credentials_1.REMOTE}: cannot compare the checkout with it`);
    }
    try {
        await g.fetchBranches(credentials_1.REMOTE, [base], await g.isShallow());
    }
    catch (e) {
        throw new Error(`Fetching '${base}' from ${credentials_1.REMOTE} ${why} failed: ${e.message}`);
    }
    await (0, checkout_1.checkHeadOnBase)(g, head, base, baseTrackingRef(base));
}
/**
 * The commit message: the subject, the changed inputs with old → new revisions (added and removed inputs marked
 * `(new)` and `(removed)`), and the trailer. Input names come from flakes (nested ones from upstream's): defused,
 * as a closing keyword in a commit on the default branch acts.
 */
function commitMessage(subject, changes, options = {}) {
    const { heading, lines } = changeLines(changes, options.created);
    return `${subject}\n\n${lines.length > 0 ? `${heading}\n${lines.join('\n')}\n\n` : ''}${git_1.TRAILER}\n`;
}
/** The changed inputs, a line each, and the heading they go under. */
function changeLines(changes, created) {
    const rev = (r) => (r ? r.slice(0, 12) : '–');
    const lines = changes.map(c => {
        const o = rev(c.old?.rev ?? c.old?.narHash);
        const n = rev(c.new?.rev ?? c.new?.narHash);
        const [od, nd] = [(0, lock_1.lockDate)(c.old?.lastModified), (0, lock_1.lockDate)(c.new?.lastModified)];
        if (!c.old)
            return `- ${(0, inert_1.defuse)(c.input)} (new): ${n}${nd ? ` (${nd})` : ''}`;
        if (!c.new)
            return `- ${(0, inert_1.defuse)(c.input)} (removed): was ${o}${od ? ` (${od})` : ''}`;
        return `- ${(0, inert_1.defuse)(c.input)}: ${o} → ${n}${od || nd ? ` (${od ?? '–'} → ${nd ?? '–'})` : ''}`;
    });
    return { heading: created ? 'Lock file created; locked inputs:' : 'Updated inputs:', lines };
}
/** The commit message of several flakes' locks: one list of changed inputs per flake, under its directory. */
function severalLocksMessage(subject, locks) {
    const body = locks.map(l => {
        const { heading, lines } = changeLines(l.changes, l.created);
        const what = heading.charAt(0).toLowerCase() + heading.slice(1);
        return `${(0, inert_1.defuse)(l.label ?? l.flakeDir)}: ${lines.length > 0 ? `${what}\n${lines.join('\n')}` : 'rewritten'}`;
    });
    return `${subject}\n\n${body.join('\n\n')}\n\n${git_1.TRAILER}\n`;
}
function describeForeign(branch, commits) {
    const list = commits
        .slice(0, 10)
        .map(c => `  ${c.sha.slice(0, 12)} ${c.author}: ${c.subject}`)
        .join('\n');
    return `Branch '${branch}' holds commits this action did not make; it is not overwritten:\n${list}${commits.length > 10 ? `\n  … ${commits.length - 10} more` : ''}\nMerge or delete the branch, or choose another 'branch'.`;
}
/**
 * Commits the new flake.lock on the update branch (never the base branch), pushes it only over the action's own
 * commits, and creates or updates the one open pull request for the branch.
 */
async function publish(git, forge, input) {
    const { settings } = input;
    const branch = settings.branch;
    if (branch === settings.baseBranch)
        throw new Error(`Refusing to write to the base branch '${branch}'`);
    const top = await git.topLevel();
    const files = input.locks.map(l => ({
        path: path.relative(top, path.join(l.flakeDir, 'flake.lock')).split(path.sep).join('/'),
        content: l.newLock
    }));
    if (files.length === 0)
        throw new Error('No lock file to commit');
    const remoteUrl = await git.remoteUrl(credentials_1.REMOTE);
    if (!remoteUrl)
        throw new Error(`The checkout in ${top} has no remote '${credentials_1.REMOTE}' to push to`);
    const g = git.withEnv(await (0, credentials_1.pushCredentials)(git, remoteUrl, settings.token, s => input.log.mask(s)));
    const head = await g.output(['rev-parse', 'HEAD']);
    const remoteBase = await g.remoteBranchSha(credentials_1.REMOTE, settings.baseBranch);
    if (!remoteBase)
        throw new Error(`The base branch '${settings.baseBranch}' does not exist on ${credentials_1.REMOTE}`);
    const remoteBranch = await g.remoteBranchSha(credentials_1.REMOTE, branch);
    await g.fetchBranches(credentials_1.REMOTE, remoteBranch ? [settings.baseBranch, branch] : [settings.baseBranch], await g.isShallow());
    const baseRef = baseTrackingRef(settings.baseBranch);
    const isAncestor = async (a, b) => (await g.exec(['merge-base', '--is-ancestor', a, b])).exitCode === 0;
    // Checked before building too; the base may have been rewritten since.
    await (0, checkout_1.checkHeadOnBase)(g, head, settings.baseBranch, baseRef);
    let commit;
    let pushed = false;
    if (remoteBranch) {
        const commits = await g.commitsBetween(baseRef, remoteBranch);
        const foreign = commits.filter(c => !c.body.split('\n').includes(git_1.TRAILER));
        if (foreign.length > 0)
            throw new Error(describeForeign(branch, foreign));
        let same = commits.length > 0 && (await isAncestor(head, remoteBranch));
        for (const f of files) {
            if (!same)
                break;
            const newBlob = await g.output(['hash-object', '--stdin'], { input: f.content });
            same = (await g.blobAt(remoteBranch, f.path)) === newBlob;
        }
        if (same) {
            input.log.info(`Branch '${branch}' already holds ${files.length === 1 ? 'this flake.lock' : 'these lock files'}: nothing to push`);
            commit = remoteBranch;
        }
    }
    if (!commit) {
        const message = input.locks.length === 1
            ? commitMessage(settings.commitMessage, input.locks[0].changes, { created: input.locks[0].created })
            : severalLocksMessage(settings.commitMessage, input.locks);
        if (settings.commitViaApi) {
            if (!(0, api_commit_2.isApiCommitter)(forge))
                throw new Error("Input 'commit-via-api' needs GitHub's API");
            const made = await (0, api_commit_1.commitThroughApi)(g, forge, {
                parent: head,
                files,
                message,
                remote: credentials_1.REMOTE
            });
            for (const warning of made.warnings)
                input.log.warning(warning);
            commit = made.commit;
        }
        else {
            commit = await g.commitFiles({
                parent: head,
                files,
                message,
                identity: { name: settings.gitUserName, email: settings.gitUserEmail },
                signingKeyFile: input.signingKeyFile,
                openPgp: input.openPgp,
                indexFile: path.join(input.scratchDir, 'index')
            });
        }
        const r = await g.pushWithLease(credentials_1.REMOTE, commit, branch, remoteBranch);
        if (r.exitCode !== 0) {
            const why = `${r.stdout}\n${r.stderr}`.trim();
            const moved = /stale info|fetch first|non-fast-forward|rejected/.test(why);
            throw new Error(`Pushing '${branch}' failed${moved ? ': the branch changed on the remote since it was fetched; run again' : ''}:\n${why.split('\n').slice(-8).join('\n')}`);
        }
        pushed = true;
        input.log.info(`Pushed ${commit.slice(0, 12)} to '${branch}'`);
    }
    const pushedResult = { branch, commit, pushed, operation: 'none' };
    try {
        return await openPull(forge, input, pushedResult);
    }
    catch (e) {
        if (e instanceof PublishError)
            throw e;
        throw new PublishError((0, errors_1.errorMessage)(e), pushedResult, e);
    }
}
/**
 * Creates or updates the pull request, adds labels, reviewers and assignees, asks for auto-merge. Labels (and
 * reviewers and assignees) are added when the pull request
 * is created and whenever this run pushed a new commit to its branch, never on a run that changed nothing, so
 * a label someone removed on purpose stays removed until the next update.
 */
async function openPull(forge, input, pushed) {
    const { settings } = input;
    const existing = await forge.findOpenPull(pushed.branch, settings.baseBranch);
    let operation;
    let pull;
    if (existing) {
        pull = existing;
        if (existing.title !== settings.prTitle || existing.body !== input.body || pushed.pushed) {
            pull = await forge.updatePull(existing.number, settings.prTitle, input.body);
            operation = 'updated';
        }
        else
            operation = 'unchanged';
    }
    else {
        const r = await forge.createPull({
            head: pushed.branch,
            base: settings.baseBranch,
            title: settings.prTitle,
            body: input.body
        });
        pull = r.pull;
        if (r.created)
            operation = 'created';
        else {
            pull = await forge.updatePull(pull.number, settings.prTitle, input.body);
            operation = 'updated';
        }
    }
    const result = { ...pushed, prNumber: pull.number, prUrl: pull.url, operation };
    if (settings.prLabels.length > 0 && (operation === 'created' || pushed.pushed)) {
        try {
            await forge.addLabels(pull.number, settings.prLabels);
        }
        catch (e) {
            // The pull request stands; a token without the labels' scope must not fail the run.
            input.log.warning(`Labels not added to #${pull.number}: ${(0, errors_1.errorMessage)(e)}`);
        }
    }
    if (operation === 'created' || pushed.pushed) {
        const people = await (0, people_1.assignPeople)(forge, pull.number, {
            reviewers: settings.prReviewers,
            assignees: settings.prAssignees
        });
        for (const warning of people.warnings)
            input.log.warning(warning);
    }
    if (settings.autoMerge) {
        try {
            const method = await forge.enableAutoMerge(pull, settings.mergeMethod);
            input.log.info(`Auto-merge requested for #${pull.number}${method ? ` (${method})` : " (the forge's default method)"}`);
        }
        catch (e) {
            // A method the repository forbids is a setting to fix; a refusal by the forge is reported and the run goes on.
            if (e instanceof merge_1.MergeMethodError)
                throw new PublishError(e.message, result, e);
            input.log.warning((0, errors_1.errorMessage)(e));
        }
    }
    return result;
}


/***/ }),

/***/ 4912:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.pushSystems = pushSystems;
const exec_1 = __nccwpck_require__(3190);
const cache_1 = __nccwpck_require__(3781);
const redact_1 = __nccwpck_require__(6670);
const stderr_1 = __nccwpck_require__(4923);
const errors_1 = __nccwpck_require__(3916);
/**
 * Copies the given systems and their closures to the store in one `nix copy`, signed with the key: a binary cache
 * signs while it uploads (`?secret-key=`); for other stores (ssh-ng://, ssh://, local) the paths are signed in the
 * local store first, so that a store that requires signatures accepts them. Never throws: a failure is reported.
 */
async function pushSystems(nix, target, systems) {
    const report = {
        to: (0, redact_1.redactUrl)(target.url),
        status: 'skipped',
        hosts: systems.map(s => s.host),
        paths: 0,
        bytes: 0,
        closurePaths: 0
    };
    if (systems.length === 0) {
        report.error = 'no host built after the update';
        return report;
    }
    const fail = (what, stderr, exitCode) => {
        const said = (0, exec_1.tail)((0, stderr_1.stripWarnings)(stderr), 15) || `exit code ${exitCode}`;
        report.status = 'failed';
        report.error = (0, redact_1.scrub)(`${what}: ${said}`, target.url);
        return report;
    };
    const paths = [...new Set(systems.map(s => s.outPath))];
    try {
        const infos = await nix.pathInfo(paths);
        report.closurePaths = infos.size;
        if (!(0, cache_1.isBinaryCacheUrl)(target.url)) {
            const signed = await nix.signClosures(target.keyFile, paths);
            if (signed.exitCode !== 0)
                return fail('signing the paths failed', signed.stderr, signed.exitCode);
        }
        const url = (0, cache_1.isBinaryCacheUrl)(target.url)
            ? (0, cache_1.withParam)(target.url, 'secret-key', target.keyFile)
            : target.url;
        const r = await nix.copyTo(url, paths);
        const sent = (0, cache_1.copiedPaths)(r.stderr);
        report.paths = sent.length;
        report.bytes = sent.reduce((sum, p) => sum + (infos.get(p)?.narSize ?? 0), 0);
        if (r.exitCode !== 0)
            return fail('nix copy failed', r.stderr, r.exitCode);
        report.status = 'pushed';
    }
    catch (e) {
        report.status = 'failed';
        report.error = (0, redact_1.scrub)((0, errors_1.errorMessage)(e), target.url);
    }
    return report;
}


/***/ }),

/***/ 1833:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.updateLock = updateLock;
exports.restoreLock = restoreLock;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const exec_1 = __nccwpck_require__(3190);
const lock_1 = __nccwpck_require__(7848);
const stderr_1 = __nccwpck_require__(4923);
const input_selection_1 = __nccwpck_require__(3345);
/**
 * Runs `nix flake update` for all or the selected inputs (`update-inputs` entries, `!name` for all but those) and compares the lock file with `oldLock`, the one of the
 * checked-out commit (undefined: the commit has none), read before anything evaluated the flake.
 */
async function updateLock(nix, flakeDir, inputs, committedLock, several = false) {
    const lockPath = path.join(flakeDir, 'flake.lock');
    const oldLock = committedLock ?? '';
    const names = (0, input_selection_1.resolveInputSelection)(inputs, committedLock, lockPath, several);
    if (names === undefined) {
        // One flake of several that has none of the inputs asked for: its lock stays as it is.
        return { changed: false, created: false, oldLock, newLock: oldLock, changes: [], updatedInputs: [] };
    }
    const r = await nix.updateLock(flakeDir, names);
    if (r.exitCode !== 0) {
        throw new Error(`Updating ${lockPath} failed (nix exit code ${r.exitCode}):\n${(0, exec_1.tail)((0, stderr_1.stripWarnings)(r.stderr), 30)}`);
    }
    const newLock = fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : '';
    if (newLock === oldLock)
        return { changed: false, created: false, oldLock, newLock, changes: [], updatedInputs: [] };
    const changes = (0, lock_1.compareLocks)(oldLock || '{"nodes":{"root":{}},"root":"root","version":7}', newLock);
    return {
        changed: true,
        created: committedLock === undefined && newLock !== '',
        oldLock,
        newLock,
        changes,
        updatedInputs: changes.map(c => c.input)
    };
}
/**
 * Puts the lock file back as it was (dry runs leave the checkout untouched). Nix stages a lock file it creates
 * (`git add --intent-to-add`); that entry goes too when the index had none before. Synchronous: it also runs
 * from a signal handler.
 */
function restoreLock(flakeDir, oldLock, index) {
    const lockPath = path.join(flakeDir, 'flake.lock');
    if (oldLock === '')
        fs.rmSync(lockPath, { force: true });
    else
        fs.writeFileSync(lockPath, oldLock);
    if (index && !index.hadEntry)
        index.git.unstageSync('flake.lock');
}


/***/ }),

/***/ 6670:
/***/ ((__unused_webpack_module, exports) => {


/**
 * The one redactor of URLs and of texts that may quote them (store URLs, remotes, API URLs): whatever could be a
 * credential becomes `***`.
 */
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.urlSecrets = urlSecrets;
exports.redactUrl = redactUrl;
exports.scrub = scrub;
/** Query parameters whose value is a credential or names one. */
const SECRET_PARAM = /secret|token|passw|auth|credential/i;
/** The parts of a URL that must never reach a log: user information, and secret-looking parameters. */
function urlSecrets(url) {
    const secrets = [];
    // scheme://user:secret@host/…, or git's scp-style user:secret@host:path
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url) ?? /^([^/@:]+:[^/@]*)@[^/:]+:/.exec(url);
    if (userinfo && userinfo[1] !== '') {
        // An ssh user name alone (ssh-ng://deploy@host) is no secret; a password is, and over HTTP or S3 a user
        // name is often a token.
        const [user, password] = userinfo[1].split(/:(.*)/s);
        if (password !== undefined && password !== '')
            secrets.push(password, userinfo[1]);
        else if (!/^ssh/i.test(url) || !/^[a-z_][a-z0-9_.-]{0,31}$/i.test(user))
            secrets.push(user);
    }
    const query = url.indexOf('?');
    if (query >= 0) {
        for (const pair of url.slice(query + 1).split('&')) {
            const [name, value] = pair.split(/=(.*)/s);
            if (value && SECRET_PARAM.test(name))
                secrets.push(value);
        }
    }
    return secrets.filter(s => s.length > 0);
}
/** A URL fit for messages: credentials replaced by `***`. */
function redactUrl(url) {
    return scrub(url, url);
}
/** `text` with every credential of `url` replaced by `***`. */
function scrub(text, url) {
    let out = text;
    // Longest first, so that `user:password` goes before `password`.
    for (const s of urlSecrets(url).sort((a, b) => b.length - a.length))
        out = out.split(s).join('***');
    return out;
}


/***/ }),

/***/ 2424:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.hostReports = hostReports;
exports.builtPairs = builtPairs;
exports.unbuiltAfter = unbuiltAfter;
exports.builtSystems = builtSystems;
exports.assembleReport = assembleReport;
const model_1 = __nccwpck_require__(6867);
/** Each host's report from its builds on both sides, what the diff found and what a regressed host would get. */
function hostReports(hosts, before, after, diffs = [], pending = new Map()) {
    const byHost = new Map(diffs.map(d => [d.host, d]));
    return hosts.map(host => {
        const b = before?.hosts.get(host);
        const a = after?.hosts.get(host);
        const d = byHost.get(host);
        const sameSystem = b?.outPath !== undefined && b.outPath === a?.outPath;
        return {
            host,
            status: (0, model_1.hostStatus)({ before: b, after: a, sameSystem }),
            before: b,
            after: a,
            diff: d?.diff,
            reboot: d?.reboot ?? [],
            units: d?.units,
            release: d?.release,
            kernel: d?.kernel,
            pending: pending.get(host)
        };
    });
}
/** Hosts that built on both sides: the pairs of systems whose closures are compared. */
function builtPairs(hosts, before, after) {
    return hosts.flatMap(host => {
        const b = before.hosts.get(host);
        const a = after.hosts.get(host);
        return b?.status === 'built' && a?.status === 'built' && b.outPath && a.outPath
            ? [{ host, before: b.outPath, after: a.outPath }]
            : [];
    });
}
/** Regressed hosts whose new system evaluated: what they would have received is read from its derivation. */
function unbuiltAfter(reports) {
    return reports.flatMap(h => h.status === 'regressed' && h.before?.outPath && h.after?.status === 'build-failed' && h.after.drvPath
        ? [{ host: h.host, before: h.before.outPath, afterDrv: h.after.drvPath }]
        : []);
}
/** Hosts whose new system built, with it: what is pushed to the binary cache. */
function builtSystems(hosts, after) {
    return hosts.flatMap(host => {
        const a = after.hosts.get(host);
        return a?.status === 'built' && a.outPath ? [{ host, outPath: a.outPath }] : [];
    });
}
/** The fleet report from the results of the steps; computes nothing that needs Nix. */
function assembleReport(p) {
    const hosts = hostReports(p.hosts, p.after && p.before, p.after, p.diffs, p.pending);
    return {
        flake: p.flake,
        flakeRef: p.flakeRef,
        nixVersion: p.nixVersion,
        changed: p.update.changed,
        built: p.build && p.update.changed,
        dryRun: p.dryRun,
        hosts,
        fleetState: p.fleetState,
        excluded: p.excluded,
        lockChanges: p.update.changes,
        lockCreated: p.update.created,
        timings: p.timings,
        ...(p.after ? { warnings: (0, model_1.warningChanges)(hosts) } : {}),
        ...(p.push ? { push: p.push } : {}),
        ...(p.heldBack ? { heldBack: p.heldBack, nothingLeft: p.nothingLeft } : {}),
        // Only another output is named, so that a NixOS fleet's report.json stays as it was.
        ...(p.configurations && p.configurations !== 'nixosConfigurations'
            ? { configurations: p.configurations }
            : {})
    };
}


/***/ }),

/***/ 4031:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.defuse = void 0;
exports.clean = clean;
exports.inline = inline;
exports.codeBlock = codeBlock;
exports.clipLines = clipLines;
const inert_1 = __nccwpck_require__(2679);
Object.defineProperty(exports, "defuse", ({ enumerable: true, get: function () { return inert_1.defuse; } }));
/** Control characters (but tab and newline) and the replacement character left by invalid UTF-8. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g;
/** Text from Nix, a flake or a log, made plain: no control characters, no terminal escapes. */
function clean(text) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(CONTROL, '');
}
/**
 * Inline Markdown text (a table cell, a list item, a summary line): Markdown and HTML characters are escaped, and
 * references, mentions and autolinks are defused (see defuse), including inside code spans, which Forgejo still
 * scans for references.
 */
function inline(text, max = 200) {
    let t = clean(text).replace(/\s+/g, ' ').trim();
    if (t.length > max)
        t = `${t.slice(0, max - 1)}…`;
    // Defused before the HTML escaping, whose `&#124;` must stay an entity.
    return (0, inert_1.defuse)(t)
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/\|/g, '&#124;')
        .replace(/([\\`*_[\]~])/g, '\\$1');
}
/** A fenced code block whose fence is longer than any backtick run inside, so the text cannot close it. */
function codeBlock(text, info = 'text') {
    const body = clean(text).replace(/\s+$/, '');
    let longest = 2;
    for (const m of body.matchAll(/`+/g))
        longest = Math.max(longest, m[0].length);
    const fence = '`'.repeat(longest + 1);
    return `${fence}${info}\n${body}\n${fence}`;
}
/** Long lines of logs cut to a width, so one line cannot take the whole body. */
function clipLines(text, width = 300) {
    return text
        .split('\n')
        .map(l => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
        .join('\n');
}


/***/ }),

/***/ 6195:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.flakeRef = flakeRef;
const path = __importStar(__nccwpck_require__(6928));
/** The flake as named from the repository's root, for commands a reader runs in their checkout. */
function flakeRef(flakeDir, env) {
    const rel = path.relative(path.resolve(env.GITHUB_WORKSPACE || process.cwd()), flakeDir);
    return rel === '' ? '.' : `./${rel.split(path.sep).join('/')}`;
}


/***/ }),

/***/ 5362:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.failedUpgrades = exports.staleHosts = void 0;
exports.fleetStateLines = fleetStateLines;
const escape_1 = __nccwpck_require__(4031);
/** `2026-12-01 05:12 UTC` */
function when(iso) {
    const t = Date.parse(iso);
    return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'unknown';
}
function deployed(h, commitsRead) {
    const sha = `\`${h.sha.slice(0, 7)}\``;
    if (h.behind === 0)
        return `${sha} (tip)`;
    if (h.behind === undefined)
        return `${sha} (more than ${commitsRead} behind)`;
    return `${sha} (${h.behind} behind)`;
}
function outcome(h) {
    const icon = h.failed ? '❌' : h.state === 'success' ? '✅' : '⏳';
    const parts = [`${icon} ${(0, escape_1.inline)(h.description || h.state, 140)}`];
    if (h.stale)
        parts.push(`⚠️ stale: ${(0, escape_1.inline)(h.staleReason ?? '')}`);
    return parts.join(' · ');
}
/**
 * The "Fleet state" section: what each host last reported (commit statuses posted by the NixOS module's
 * reportStatus) against the base branch's recent commits. Hosts' own words are upstream text: escaped and defused.
 */
function fleetStateLines(s, maxRows = Infinity) {
    const out = ['', '### Fleet state', ''];
    if (s.hosts.length === 0) {
        out.push(`No host has reported a deployment on the last ${s.commits.length} commits of \`${(0, escape_1.inline)(s.base)}\` (hosts report with \`services.fleet-auto-upgrade.reportStatus\`).`);
        return out;
    }
    const stale = s.hosts.filter(h => h.stale).length;
    const failed = s.hosts.filter(h => h.failed).length;
    const counts = [`${s.hosts.length} reporting`];
    if (failed > 0)
        counts.push(`${failed} failed`);
    if (stale > 0)
        counts.push(`${stale} stale`);
    if (s.neverReported.length > 0)
        counts.push(`${s.neverReported.length} never reported`);
    out.push(`What each host last reported on \`${(0, escape_1.inline)(s.base)}\`: ${counts.join(', ')}.`, '');
    out.push('| host | deployed | reported | outcome |', '|---|---|---|---|');
    // Failed and stale hosts first: those are the ones to look at.
    const order = (h) => (h.failed ? 0 : h.stale ? 1 : 2);
    const rows = [...s.hosts].sort((a, b) => order(a) - order(b) || a.host.localeCompare(b.host));
    const shown = Number.isFinite(maxRows) ? rows.slice(0, maxRows) : rows;
    for (const h of shown) {
        out.push(`| ${(0, escape_1.inline)(h.host)} | ${deployed(h, s.commits.length)} | ${when(h.at)} | ${outcome(h)} |`);
    }
    if (shown.length < rows.length)
        out.push('', `_${rows.length - shown.length} more hosts in the report-json file._`);
    if (s.neverReported.length > 0) {
        out.push('', `Never reported: ${s.neverReported.map(h => (0, escape_1.inline)(h)).join(', ')}.`);
    }
    return out;
}
/** Hosts flagged stale, and hosts whose last report is a failed upgrade (the outputs). */
const staleHosts = (s) => s?.hosts.filter(h => h.stale).map(h => h.host) ?? [];
exports.staleHosts = staleHosts;
const failedUpgrades = (s) => s?.hosts.filter(h => h.failed).map(h => h.host) ?? [];
exports.failedUpgrades = failedUpgrades;


/***/ }),

/***/ 799:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.heldBackLines = heldBackLines;
const names_1 = __nccwpck_require__(8971);
const escape_1 = __nccwpck_require__(4031);
const sections_1 = __nccwpck_require__(3844);
function rev(l) {
    const id = l?.rev ? l.rev.slice(0, 12) : l?.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 12) : '–';
    return (0, sections_1.codeSpan)(id);
}
/** A flake attribute path segment: bare when Nix reads it bare, else quoted. */
function attr(name) {
    return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : JSON.stringify(name);
}
function how(h) {
    const others = h.others.map(o => (0, escape_1.inline)(o)).join(', ');
    switch (h.kind) {
        case 'together':
            return ` (needs several inputs together: with ${others})`;
        case 'each':
            return ` (${others} ${h.others.length === 1 ? 'breaks' : 'break'} it too, each on its own)`;
        case 'unexplained':
            return ' (not narrowed down: needs several inputs together, every changed input is held back for it)';
        default:
            return '';
    }
}
function failure(h) {
    if (h.failedDrvs.length > 0)
        return `fails to build ${h.failedDrvs.map(d => (0, sections_1.codeSpan)((0, names_1.storePathName)(d).replace(/\.drv$/, ''))).join(', ')}`;
    return h.error ? (0, escape_1.inline)(h.error, 200) : 'fails';
}
/** The command that builds the host with this input at its new revision, from the pull request's branch. */
function reproduce(i, host, flakeRef) {
    const toplevel = `nix build ${flakeRef}#nixosConfigurations.${attr(host)}.config.system.build.toplevel`;
    if (!i.heldBack)
        return `${toplevel}`;
    if (!i.newRef)
        return undefined;
    return `${toplevel} --override-input ${i.input} '${i.newRef}'`;
}
function bisectLine(i, b) {
    const hosts = b.hosts.map(h => (0, escape_1.inline)(h)).join(', ');
    const builds = `${b.steps.length} build${b.steps.length === 1 ? '' : 's'}`;
    if (b.error)
        return `Bisect: not run (${(0, escape_1.inline)(b.error, 200)}).`;
    if (b.firstBad) {
        return `First bad commit of ${(0, escape_1.inline)(i.input)} for ${hosts}: ${(0, sections_1.codeSpan)(b.firstBad.rev.slice(0, 12))} ${(0, escape_1.inline)(b.firstBad.subject, 160)} (${b.commits} commits, ${builds}).`;
    }
    return `Bisect of ${(0, escape_1.inline)(i.input)} for ${hosts} narrowed ${b.commits} commits to ${b.remaining ?? '?'} after ${builds} (the bound): the first bad commit is after ${(0, sections_1.codeSpan)((b.good ?? '').slice(0, 12))} and at or before ${(0, sections_1.codeSpan)((b.bad ?? '').slice(0, 12))}.`;
}
/**
 * The "Held back" section (or, with `hold-back: none`, "Inputs that break hosts"): each input that breaks hosts,
 * its old and new revision, the hosts and the derivation that fails, a command that reproduces it, and what a
 * bisection found.
 */
function heldBackLines(inputs, flakeRef = '.', nothingLeft = false) {
    if (!inputs || inputs.length === 0)
        return [];
    const held = inputs.filter(i => i.heldBack);
    const out = ['', held.length > 0 ? `### Held back (${held.length})` : '### Inputs that break hosts', ''];
    if (held.length > 0) {
        out.push(nothingLeft
            ? 'Every changed input breaks a host: nothing is left to update, so no pull request is opened.'
            : 'The pull request updates every other input; these stay at their old revision because the update breaks hosts with them.', '');
    }
    for (const i of inputs) {
        out.push(`- **${(0, escape_1.inline)(i.input)}** ${rev(i.old)} → ${rev(i.new)}`);
        for (const h of i.hosts) {
            const cmd = reproduce(i, h.host, flakeRef);
            out.push(`  - ${(0, escape_1.inline)(h.host)}: ${failure(h)}${how(h)}${cmd ? `. Reproduce: ${(0, sections_1.commandSpan)(cmd)}` : ''}`);
        }
        if (i.bisect)
            out.push(`  - ${bisectLine(i, i.bisect)}`);
    }
    return out;
}


/***/ }),

/***/ 4285:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.SUMMARY_LIMIT = exports.REPORT_LIMIT = void 0;
exports.sharedChanges = sharedChanges;
exports.hostList = hostList;
exports.renderCacheReport = renderCacheReport;
exports.renderReport = renderReport;
exports.renderSeveral = renderSeveral;
const closure_diff_1 = __nccwpck_require__(8684);
const words_1 = __nccwpck_require__(2691);
const lock_1 = __nccwpck_require__(7848);
const escape_1 = __nccwpck_require__(4031);
const model_1 = __nccwpck_require__(6867);
const nvd_1 = __nccwpck_require__(3562);
const sections_1 = __nccwpck_require__(3844);
const fleet_state_1 = __nccwpck_require__(5362);
const held_back_1 = __nccwpck_require__(799);
/** What the report's heading calls the entries, by the flake output built. */
const SUBJECT = {
    nixosConfigurations: 'NixOS fleet',
    homeConfigurations: 'Home Manager configurations',
    darwinConfigurations: 'nix-darwin fleet'
};
const subject = (r) => SUBJECT[r.configurations ?? 'nixosConfigurations'];
/** Both forges' body limit is above this; GitHub's is 65,536 characters. */
exports.REPORT_LIMIT = 60000;
const STATUS = {
    updated: '✅ updated',
    unchanged: '➖ unchanged',
    regressed: '❌ regressed',
    failing: '⚠️ failing',
    fixed: '🔧 fixed',
    'not-built': '⏭️ not built',
    'not-buildable': '🚫 not buildable here'
};
/**
 * How much per-host detail the report carries, shortened step by step until it fits the limit: lines of each
 * host's diff (0: none), then no failure logs either (-1), then fewer rows of the fleet table.
 */
const DETAIL_LINES = [Infinity, 60, 20, 0, -1];
const MIN_ROWS = [Infinity, 500, 200, 50, 10];
function shortRev(l) {
    if (!l)
        return '–';
    const id = l.rev ? l.rev.slice(0, 12) : l.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 12) : '?';
    return `\`${id.replace(/[^A-Za-z0-9+/=._-]/g, '')}\``;
}
/** `2024-05-31`, with the time (UTC) when both sides fall on the same day. */
function lockTimes(c) {
    const dates = [(0, lock_1.lockDate)(c.old?.lastModified), (0, lock_1.lockDate)(c.new?.lastModified)];
    if (!dates[0] && !dates[1])
        return '';
    const sameDay = dates[0] !== undefined && dates[0] === dates[1];
    const at = (t, d) => d === undefined
        ? '–'
        : sameDay && t !== undefined
            ? `${d} ${new Date(t * 1000).toISOString().slice(11, 16)}`
            : d;
    return `${at(c.old?.lastModified, dates[0])} → ${at(c.new?.lastModified, dates[1])}${sameDay ? ' UTC' : ''}`;
}
/** Without a compare link: what changed, the revision (git) or else the content hash (path:, tarballs). */
function identityChange(c) {
    const o = c.old;
    const n = c.new;
    if (!o || !n)
        return '';
    const hash = (h) => (0, sections_1.codeSpan)((h ?? '–').replace(/^sha256-/, '').slice(0, 12));
    if (o.rev && n.rev && o.rev !== n.rev)
        return `rev ${(0, sections_1.codeSpan)(o.rev.slice(0, 7))} → ${(0, sections_1.codeSpan)(n.rev.slice(0, 7))}`;
    return `narHash ${hash(o.narHash)} → ${hash(n.narHash)}`;
}
function lockRow(c) {
    const link = c.compareUrl && /^https:\/\/[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+$/.test(c.compareUrl)
        ? `[compare](${c.compareUrl})`
        : '';
    const what = !c.old ? '(new)' : !c.new ? '(removed)' : '';
    return `| ${(0, escape_1.inline)(c.input)} | ${shortRev(c.old)} | ${shortRev(c.new)} | ${lockTimes(c)} | ${what || link || identityChange(c)} |`;
}
function sizeDelta(h) {
    if (!h.diff)
        return '–';
    return (0, nvd_1.formatBytes)(h.diff.bytesAfter - h.diff.bytesBefore, true);
}
function hostRow(h) {
    const k = h.diff ? (0, closure_diff_1.countKinds)(h.diff) : undefined;
    const n = (x) => (x === undefined ? '–' : String(x));
    const reboot = h.reboot.length > 0 ? `yes (${h.reboot.join(', ')})` : h.diff ? 'no' : '–';
    const platform = h.status === 'not-buildable' && h.after?.system ? ` (${(0, escape_1.inline)(h.after.system)})` : '';
    return `| ${(0, escape_1.inline)(h.host)} | ${STATUS[h.status]}${platform} | ${n(k?.upgrade)} | ${n(k?.downgrade)} | ${n(k?.added)} | ${n(k?.removed)} | ${sizeDelta(h)} | ${reboot} |`;
}
function changeText(c) {
    if (c.kind === 'added')
        return `${c.name} ${(0, nvd_1.formatVersions)(c.after)} added`;
    if (c.kind === 'removed')
        return `${c.name} ${(0, nvd_1.formatVersions)(c.before)} removed`;
    return `${c.name} ${(0, nvd_1.formatVersions)(c.before)} → ${(0, nvd_1.formatVersions)(c.after)}`;
}
/** Changes that several hosts share, each listed once with the count of hosts. */
function sharedChanges(hosts) {
    const diffed = hosts.filter(h => h.diff);
    const byChange = new Map();
    const downgrades = new Set();
    for (const h of diffed) {
        const d = h.diff;
        if (!d)
            continue;
        for (const c of [...d.changed, ...d.renamed, ...d.added, ...d.removed]) {
            if (c.kind === 'changed' && (0, nvd_1.formatVersions)(c.before) === (0, nvd_1.formatVersions)(c.after))
                continue;
            const key = changeText(c);
            if (c.kind === 'downgrade')
                downgrades.add(key);
            byChange.set(key, [...(byChange.get(key) ?? []), h.host]);
        }
    }
    return [...byChange]
        .filter(([, list]) => list.length >= 2)
        .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
        .map(([text, list]) => ({ text, hosts: list, downgrade: downgrades.has(text) }));
}
function summaryLine(r) {
    const count = (s) => r.hosts.filter(h => h.status === s).length;
    const inputs = (0, words_1.plural)(r.lockChanges.length, 'input');
    const parts = [r.lockCreated ? `lock file created (${inputs} locked)` : `${inputs} updated`];
    for (const s of ['updated', 'unchanged', 'regressed', 'failing', 'fixed']) {
        if (count(s) > 0)
            parts.push(`${count(s)} ${s}`);
    }
    if (count('not-buildable') > 0)
        parts.push(`${count('not-buildable')} not buildable here`);
    const reboot = (0, model_1.rebootHosts)(r);
    if (reboot.length > 0)
        parts.push(`${reboot.length} need${reboot.length === 1 ? 's' : ''} a reboot`);
    return parts.join(' · ');
}
function truncateLines(text, max) {
    if (!Number.isFinite(max))
        return text;
    const lines = text.split('\n');
    if (lines.length <= max)
        return text;
    return [...lines.slice(0, max), `… ${lines.length - max} more lines in the full report`].join('\n');
}
function hostDetails(h, maxLines) {
    if (!h.diff)
        return '';
    const k = (0, closure_diff_1.countKinds)(h.diff);
    const parts = [
        k.upgrade && `${k.upgrade} upgraded`,
        k.downgrade && `${k.downgrade} downgraded`,
        k.changed && `${k.changed} changed`,
        k.added && `${k.added} added`,
        k.removed && `${k.removed} removed`
    ].filter(Boolean);
    const text = truncateLines((0, nvd_1.nvdText)(h.diff, h.before?.outPath, h.after?.outPath), maxLines);
    return `<details><summary>${(0, escape_1.inline)(h.host)}: ${parts.join(', ') || 'no package changes'}${h.reboot.length ? ' · reboot needed' : ''}</summary>\n\n${(0, escape_1.codeBlock)(text)}\n\n</details>`;
}
const RANK = {
    regressed: 0,
    failing: 1,
    fixed: 2,
    updated: 3,
    unchanged: 4,
    'not-built': 5,
    'not-buildable': 6
};
const rank = (h) => RANK[h.status];
/** The two sides of the comparison in words: before and after the update, or a pull request's base and head. */
function sides(r) {
    return r.review
        ? { before: 'at the base', after: 'at the head' }
        : { before: 'before the update', after: 'after the update' };
}
function failureOf(h, r) {
    if (h.after && !(0, model_1.evaluated)(h.after))
        return { build: h.after, phase: sides(r).after };
    if (h.before && !(0, model_1.evaluated)(h.before))
        return { build: h.before, phase: sides(r).before };
    return undefined;
}
/** `evaluation failed after the update`, or for a host that failed both times, `… still failing (also before the update)`. */
function failurePhrase(h, build, phase, r) {
    const what = build.status === 'eval-failed' ? 'evaluation failed' : 'build failed';
    return h.status === 'failing' ? `${what}, still failing (also ${sides(r).before})` : `${what} ${phase}`;
}
/** One line per failed host, for reports too large for logs. */
function failureLine(h, r) {
    const f = failureOf(h, r);
    if (!f)
        return `${(0, escape_1.inline)(h.host)} (${h.status})`;
    return `${(0, escape_1.inline)(h.host)} (${h.status}): ${failurePhrase(h, f.build, f.phase, r)}${f.build.error ? ` · ${(0, escape_1.inline)(f.build.error, 160)}` : ''}`;
}
function failureDetails(h, maxLines, r) {
    const f = failureOf(h, r);
    if (!f)
        return '';
    const failure = f.build;
    const log = (0, escape_1.clipLines)(truncateLines(failure.logTail ?? failure.error ?? '', Math.min(maxLines, 40)));
    const head = `${(0, escape_1.inline)(h.host)} (${h.status}): ${failurePhrase(h, failure, f.phase, r)}${failure.status === 'build-failed' && failure.error ? ` · ${(0, escape_1.inline)(failure.error, 300)}` : ''}`;
    const body = [];
    const inputs = h.status === 'regressed' ? (0, sections_1.inputChangesLine)(r.lockChanges) : undefined;
    if (inputs)
        body.push(`Would have received: ${inputs}.`, '');
    const pending = (0, sections_1.pendingLine)(h.pending);
    if (pending)
        body.push(`Package versions in its new derivations (not built): ${pending}.`, '');
    const set = r.configurations ?? 'nixosConfigurations';
    // A command with characters Markdown or HTML would act on is shown escaped rather than as code.
    // So is one with a `#` other than the flake's: a forge could read `"web #1"` as a reference.
    body.push(`Reproduce: ${(0, sections_1.reproduceCommands)(h, r.flakeRef, set)
        .map(c => (0, sections_1.commandSpan)(c, set))
        .join(' · ')}`, '');
    return `<details><summary>${head}</summary>\n\n${body.join('\n')}\n${(0, escape_1.codeBlock)(log || 'no log')}\n\n</details>`;
}
/** Evaluation warnings new after the update, each once with its hosts, and how many went away. */
function warningLines(r, maxLines, fullReport) {
    const w = r.warnings;
    if (!w || (w.new.length === 0 && w.gone.length === 0))
        return [];
    const out = ['', `### New evaluation warnings (${w.new.length})`, ''];
    if (w.new.length === 0)
        out.push('None.');
    const shown = maxLines <= 0 ? w.new.slice(0, 20) : w.new;
    for (const g of shown)
        out.push(`- ${(0, escape_1.inline)(g.text, 500)} — ${hostList(g.hosts, r.hosts.length)}`);
    if (shown.length < w.new.length)
        out.push(`- … ${w.new.length - shown.length} more in ${fullReport}`);
    if (w.gone.length > 0) {
        out.push('', `_${(0, words_1.plural)(w.gone.length, 'warning')} printed before the update ${w.gone.length === 1 ? 'is' : 'are'} gone after it._`);
    }
    return out;
}
/** Per host, what `switch` would do with its systemd units. */
function unitLines(r, maxLines, fullReport) {
    const lines = r.hosts.flatMap(h => {
        const line = (0, sections_1.unitLine)(h.units);
        return line ? [`- ${(0, escape_1.inline)(h.host)}: ${line}`] : [];
    });
    if (lines.length === 0)
        return [];
    const shown = maxLines <= 0 ? lines.slice(0, 20) : lines;
    const out = ['', '### Services `switch` will restart, reload, start or stop', '', ...shown];
    if (shown.length < lines.length)
        out.push(`- … ${lines.length - shown.length} more hosts in ${fullReport}`);
    return out;
}
/** `on all 5 hosts` or `on 3 of 5 hosts (web, mail, laptop)`. */
function hostList(hosts, total) {
    if (hosts.length === total && total > 1)
        return `on all ${total} hosts`;
    const shown = hosts.slice(0, MAX_NAMES).map(h => (0, escape_1.inline)(h));
    if (hosts.length > MAX_NAMES)
        shown.push(`${hosts.length - MAX_NAMES} more`);
    return `on ${hosts.length} of ${(0, words_1.plural)(total, 'host')} (${shown.join(', ')})`;
}
/** Host names listed in one line before the rest are counted. */
const MAX_NAMES = 12;
/**
 * Where the new systems went. The pull request body leaves out the counts, which differ on a run again over the
 * same update (the second sends nothing), so that the body changes only when the update does.
 */
function pushLines(r, counts) {
    const p = r.push;
    if (!p)
        return [];
    const sent = counts
        ? ` (${(0, words_1.plural)(p.paths, 'new path')}, ${(0, nvd_1.formatBytes)(p.bytes)}, of ${p.closurePaths} in their closures)`
        : '';
    const n = (0, words_1.plural)(p.hosts.length, 'host');
    // A code span: a URL there is neither a link nor Markdown.
    const to = `\`${(0, escape_1.clean)(p.to).replace(/[`\s]/g, '')}\``;
    if (p.status === 'pushed')
        return ['', `The new systems of ${n} are in the binary cache ${to}${sent}.`];
    if (p.status === 'skipped')
        return ['', `Nothing was pushed to the binary cache ${to}: ${(0, escape_1.inline)(p.error ?? '')}.`];
    return [
        '',
        `⚠️ **Pushing the new systems to the binary cache ${to} failed**: hosts build them or fetch them elsewhere.`,
        '',
        (0, escape_1.codeBlock)((0, escape_1.clipLines)(p.error ?? 'no error message'))
    ];
}
/** A host of one side only, and how it went there: `db (built)`, `old (evaluation failed)`. */
function oneSided(h) {
    const how = h.build.status === 'built'
        ? 'built'
        : h.build.status === 'eval-failed'
            ? 'evaluation failed'
            : 'build failed';
    return `${(0, escape_1.inline)(h.host)} (${how})`;
}
/** A review's title and summary: the commits compared, the hosts per status, those not built, added and removed. */
function reviewHead(r, review) {
    const n = r.hosts.length;
    const count = (s) => r.hosts.filter(h => h.status === s).length;
    const parts = [`${(0, sections_1.codeSpan)(review.base.slice(0, 12))} → ${(0, sections_1.codeSpan)(review.head.slice(0, 12))}`];
    for (const s of ['updated', 'regressed', 'failing', 'fixed']) {
        if (count(s) > 0)
            parts.push(`${count(s)} ${s === 'updated' ? 'changed' : s}`);
    }
    const reboot = (0, model_1.rebootHosts)(r);
    if (reboot.length > 0)
        parts.push(`${reboot.length} need${reboot.length === 1 ? 's' : ''} a reboot`);
    parts.push(`${review.unchanged} unchanged (same system derivation, not built)`);
    const out = [
        `## ${subject(r)} review: ${(0, words_1.plural)(n, 'host')} changed${r.dryRun ? ' (dry run)' : ''}`,
        '',
        parts.join(' · ')
    ];
    if (review.added.length > 0)
        out.push('', `**Added hosts:** ${review.added.map(oneSided).join(', ')}`);
    if (review.removed.length > 0)
        out.push('', `**Removed hosts:** ${review.removed.map(oneSided).join(', ')}`);
    for (const f of (0, sections_1.systemFlags)(r.hosts)) {
        const what = f.what === 'release' ? 'NixOS release' : 'Kernel';
        out.push('', `> **${what} ${(0, escape_1.inline)(f.change)}** ${hostList(f.hosts, r.hosts.length)}`);
    }
    if (n === 0)
        out.push('', 'No host builds a different system at the head.');
    return out;
}
/** Cache mode's summary: the commit, the hosts built there and those that failed, and what went to the cache. */
function renderCacheReport(r, commit) {
    const built = r.hosts.filter(h => h.after?.status === 'built');
    const failed = r.hosts.filter(h => h.after && !(0, model_1.evaluated)(h.after));
    const elsewhere = r.hosts.filter(h => h.after?.status === 'not-buildable');
    const out = [
        `## ${subject(r)} cache: ${built.length} of ${(0, words_1.plural)(r.hosts.length, 'host')} built at ${(0, sections_1.codeSpan)(commit.slice(0, 12))}`
    ];
    if (failed.length > 0) {
        out.push('', `### Failed hosts (${failed.length})`, '');
        for (const h of failed)
            out.push(`- ${(0, escape_1.inline)(h.host)}: ${(0, escape_1.inline)(h.after?.error ?? 'failed', 300)}`);
    }
    if (elsewhere.length > 0) {
        out.push('', `### Not buildable here (${elsewhere.length})`, '');
        for (const h of elsewhere)
            out.push(`- ${(0, escape_1.inline)(h.host)}: ${(0, escape_1.inline)(h.after?.system ?? 'another platform')}`);
    }
    out.push(...pushLines(r, true));
    const foot = [(0, escape_1.inline)((0, sections_1.nixLabel)(r.nixVersion))];
    if (r.excluded.length > 0)
        foot.push(`excluded: ${r.excluded.map(h => (0, escape_1.inline)(h)).join(', ')}`);
    if (r.timings.length > 0)
        foot.push(r.timings.map(t => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', '));
    out.push('', `<sub>${foot.join(' · ')}</sub>`, '');
    return out.join('\n');
}
/** GitHub's job summary takes up to 1 MiB. */
exports.SUMMARY_LIMIT = 1000000;
function renderReport(r, options = {}) {
    const { limit = exports.REPORT_LIMIT, fullReport, timings = true, nested = false } = options;
    for (const maxLines of DETAIL_LINES) {
        const text = renderWith(r, maxLines, Infinity, timings, fullReport, nested);
        if (text.length <= limit)
            return text;
    }
    for (const maxRows of MIN_ROWS.slice(1)) {
        const text = renderWith(r, -1, maxRows, timings, fullReport, nested);
        if (text.length <= limit)
            return text;
    }
    // Only pathological input (thousands of inputs or enormous names) gets here: a plain cut at a line end,
    // outside any code block since the shortest form has none.
    const note = `\n\n_Report cut at the size limit; the complete results are in ${fullReport ?? 'the report-json file'}._\n`;
    const text = renderWith(r, -1, 10, timings, fullReport, nested).slice(0, limit - note.length);
    return text.slice(0, Math.max(0, text.lastIndexOf('\n'))) + note;
}
function heading(r) {
    if (r.review)
        return reviewHead(r, r.review);
    const out = [
        `## ${subject(r)} update: ${(0, words_1.plural)(r.hosts.length, 'host')}${r.dryRun ? ' (dry run)' : ''}`,
        ''
    ];
    if (!r.changed) {
        out.push('flake.lock is up to date: no input has a newer revision, nothing was rebuilt.');
    }
    else {
        out.push(summaryLine(r));
        for (const f of (0, sections_1.systemFlags)(r.hosts)) {
            const what = f.what === 'release' ? 'NixOS release' : 'Kernel';
            out.push('', `> **${what} ${(0, escape_1.inline)(f.change)}** ${hostList(f.hosts, r.hosts.length)}`);
        }
    }
    return out;
}
function inputsSection(r) {
    if (r.lockChanges.length === 0)
        return [];
    return [
        '',
        '### Inputs',
        '',
        '| input | from | to | last modified | changes |',
        '|---|---|---|---|---|',
        ...r.lockChanges.map(lockRow)
    ];
}
function hostsTable(r, room) {
    const out = ['', '### Hosts', ''];
    out.push('| host | status | upgrades | downgrades | added | removed | disk usage | reboot |');
    out.push('|---|---|---|---|---|---|---|---|');
    // Rows of problem hosts first when the table has to be cut: those are what a reviewer must see.
    const rows = Number.isFinite(room.maxRows)
        ? [...r.hosts].sort((a, b) => rank(a) - rank(b)).slice(0, room.maxRows)
        : r.hosts;
    for (const h of rows)
        out.push(hostRow(h));
    if (rows.length < r.hosts.length)
        out.push('', `_${r.hosts.length - rows.length} more hosts in ${room.fullReport}._`);
    return out;
}
function sharedSection(r, room) {
    const shared = [
        ...sharedChanges(r.hosts).map(s => ({
            line: `${s.downgrade ? '⬇️ downgrade: ' : ''}${(0, escape_1.inline)(s.text)}`,
            hosts: s.hosts
        })),
        ...(0, sections_1.sharedUnitChanges)(r.hosts).map(s => ({ line: `${(0, escape_1.inline)(s.text)}`, hosts: s.hosts }))
    ];
    if (shared.length === 0)
        return [];
    const out = ['', '### Changes on several hosts', ''];
    const shown = room.maxLines <= 0 ? shared.slice(0, 20) : shared;
    for (const s of shown)
        out.push(`- ${s.line} ${hostList(s.hosts, r.hosts.length)}`);
    if (shown.length < shared.length)
        out.push(`- … ${shared.length - shown.length} more`);
    return out;
}
function failedSection(r, room) {
    const failures = r.hosts.filter(h => h.status === 'regressed' || h.status === 'failing' || h.status === 'fixed');
    if (failures.length === 0)
        return [];
    const out = ['', `### Failed hosts (${(0, model_1.failedHosts)(r).length})`, ''];
    if (room.maxLines < 0) {
        const shown = Number.isFinite(room.maxRows) ? failures.slice(0, room.maxRows) : failures;
        for (const h of shown)
            out.push(`- ${failureLine(h, r)}`);
        if (shown.length < failures.length)
            out.push(`- … ${failures.length - shown.length} more`);
        out.push('', `_Build logs left out to stay under the size limit; ${room.fullReport} has them._`);
    }
    else {
        for (const h of failures)
            out.push(failureDetails(h, room.maxLines === 0 ? 10 : room.maxLines, r), '');
    }
    return out;
}
function detailsSection(r, room) {
    const detailed = r.hosts.filter(h => h.diff);
    if (detailed.length === 0)
        return [];
    const { maxLines, fullReport } = room;
    const out = ['', '### Package changes per host', ''];
    if (maxLines > 0)
        out.push(`_${sections_1.NVD_LEGEND}_`, '');
    if (maxLines <= 0) {
        out.push(`_Per-host detail left out to stay under the size limit; ${fullReport} has it all._`);
    }
    else {
        if (Number.isFinite(maxLines)) {
            out.push(`_Per-host detail shortened to ${maxLines} lines to stay under the size limit; ${fullReport} has it all._`, '');
        }
        for (const h of detailed)
            out.push(hostDetails(h, maxLines), '');
    }
    return out;
}
function footer(r, room) {
    const foot = [(0, escape_1.inline)((0, sections_1.nixLabel)(r.nixVersion))];
    if (r.excluded.length > 0)
        foot.push(`excluded: ${r.excluded.map(h => (0, escape_1.inline)(h)).join(', ')}`);
    if (room.timings && r.timings.length > 0)
        foot.push(r.timings.map(t => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', '));
    return ['', `<sub>${foot.join(' · ')}</sub>`, ''];
}
/** The report as a list of sections, each rendered within `room`. */
function renderWith(r, maxLines, maxRows, timings, fullReport = 'the report-json file', nested = false) {
    const room = { maxLines, maxRows, timings, fullReport };
    const built = r.changed && r.built;
    const lines = [
        ...heading(r),
        ...inputsSection(r),
        ...(0, held_back_1.heldBackLines)(r.heldBack, r.flakeRef, r.nothingLeft),
        ...(built
            ? [
                ...hostsTable(r, room),
                ...sharedSection(r, room),
                ...warningLines(r, maxLines, fullReport),
                ...unitLines(r, maxLines, fullReport),
                ...failedSection(r, room),
                ...detailsSection(r, room)
            ]
            : []),
        ...pushLines(r, timings),
        ...(r.fleetState ? (0, fleet_state_1.fleetStateLines)(r.fleetState, maxRows) : []),
        ...footer(r, room)
    ];
    if (!nested)
        return lines.join('\n');
    // The sections' headings are lines of their own (multi-line entries are code blocks and tables).
    const headingLine = /^#{2,5} [^\n]*$/;
    lines[0] = `## ${(0, sections_1.codeSpan)(r.flakeRef ?? r.flake)}: ${(0, words_1.plural)(r.hosts.length, 'host')}`;
    return lines.map(l => (headingLine.test(l) ? `#${l}` : l)).join('\n');
}
/** What each flake's part of a report on several says in the heading's list. */
function flakeLine(r) {
    const label = (0, sections_1.codeSpan)(r.flakeRef ?? r.flake);
    if (!r.changed)
        return `- ${label}: up to date`;
    const held = (r.heldBack ?? []).filter(i => i.heldBack).length;
    const parts = [(0, words_1.plural)(r.lockChanges.length, 'input') + ' updated'];
    if (held > 0)
        parts.push(`${held} held back`);
    if (r.nothingLeft)
        parts.push('nothing proposed');
    return `- ${label}: ${parts.join(', ')}`;
}
/**
 * The report on several flakes of one repository: a heading with a line per flake, then each flake's own report
 * (its headings a level lower), each within an equal share of `limit`.
 */
function renderSeveral(reports, options = {}) {
    const { limit = exports.REPORT_LIMIT } = options;
    const first = reports[0];
    const hosts = reports.reduce((n, r) => n + r.hosts.length, 0);
    const head = [
        `## ${subject(first)} update: ${(0, words_1.plural)(reports.length, 'flake')}, ${(0, words_1.plural)(hosts, 'host')}${first.dryRun ? ' (dry run)' : ''}`,
        '',
        ...reports.map(flakeLine),
        ''
    ].join('\n');
    const share = Math.floor((limit - head.length) / reports.length) - 2;
    return [head, ...reports.map(r => renderReport(r, { ...options, nested: true, limit: share }))].join('\n');
}


/***/ }),

/***/ 6867:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.rebootHosts = exports.regressedHosts = exports.failedHosts = exports.evaluated = void 0;
exports.warningChanges = warningChanges;
exports.hostStatus = hostStatus;
const warnings_1 = __nccwpck_require__(9826);
/** A side that evaluated: built, or evaluated only because no builder here can build its platform. */
const evaluated = (b) => b.status === 'built' || b.status === 'not-buildable';
exports.evaluated = evaluated;
/** The fleet's warning changes, from each host's warnings before and after the update. */
function warningChanges(hosts) {
    return (0, warnings_1.compareWarnings)(hosts.map(h => ({ host: h.host, before: h.before?.warnings, after: h.after?.warnings })));
}
/** A host's status from its two builds; `sameSystem` when both built the very same system (out path). */
function hostStatus(builds) {
    const { before, after, sameSystem } = builds;
    if (!before || !after)
        return 'not-built';
    const okBefore = (0, exports.evaluated)(before);
    const okAfter = (0, exports.evaluated)(after);
    if (okBefore && okAfter) {
        if (before.status === 'not-buildable' || after.status === 'not-buildable')
            return 'not-buildable';
        return sameSystem ? 'unchanged' : 'updated';
    }
    if (okBefore)
        return 'regressed';
    if (okAfter)
        return 'fixed';
    return 'failing';
}
const failedHosts = (r) => r.hosts.filter(h => h.after !== undefined && !(0, exports.evaluated)(h.after)).map(h => h.host);
exports.failedHosts = failedHosts;
const regressedHosts = (r) => r.hosts.filter(h => h.status === 'regressed').map(h => h.host);
exports.regressedHosts = regressedHosts;
const rebootHosts = (r) => r.hosts.filter(h => h.reboot.length > 0).map(h => h.host);
exports.rebootHosts = rebootHosts;


/***/ }),

/***/ 3562:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.formatVersions = formatVersions;
exports.formatBytes = formatBytes;
exports.nvdText = nvdText;
const names_1 = __nccwpck_require__(8971);
/**
 * `1.0 x2, 1.1`: versions (sorted oldest first) joined with ", ", neighbours Nix finds equal counted as repeats of
 * the last of them, an empty version shown as `<none>`.
 */
function formatVersions(versions) {
    const items = [];
    let i = versions.length - 1;
    while (i >= 0) {
        const v = versions[i];
        let n = 1;
        while (i - n >= 0 && (0, names_1.compareVersions)(versions[i - n], v) === 0)
            n++;
        items.unshift(`${v === '' ? '<none>' : v}${n > 1 ? ` x${n}` : ''}`);
        i -= n;
    }
    return items.join(', ');
}
const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const thousands = (digits) => digits.replace(/\B(?=(\d{3})+$)/g, ',');
/**
 * Bytes as nvd prints them: `+0B`, `+1,000B`, `+2.8KiB`, `-1.2MiB`: thousands separated by commas, one decimal from
 * KiB on, a tie rounded to the even digit (`+1.2KiB` for 1,280 bytes), as Python's formatting does.
 */
function formatBytes(bytes, signed = false) {
    const sign = bytes < 0 ? '-' : signed ? '+' : '';
    const n = BigInt(Math.abs(Math.round(bytes)));
    let unit = 0;
    let scale = 1n;
    while (unit < UNITS.length && n >= scale * 1024n) {
        scale *= 1024n;
        unit++;
    }
    if (unit === 0)
        return `${sign}${thousands(n.toString())}B`;
    let tenths = (n * 10n) / scale;
    const twice = ((n * 10n) % scale) * 2n;
    if (twice > scale || (twice === scale && tenths % 2n === 1n))
        tenths++;
    return `${sign}${thousands((tenths / 10n).toString())}.${tenths % 10n}${UNITS[unit - 1]}`;
}
/** One section: index padded to the count's width, names to the longest, sizes aligned right. */
function section(title, rows) {
    if (rows.length === 0)
        return [];
    const digits = String(rows.length).length;
    const nameWidth = Math.max(...rows.map(r => r.name.length));
    const sizeWidth = Math.max(...rows.map(r => r.size.length));
    return [
        title,
        ...rows.map((r, i) => `${r.mark}  #${String(i + 1).padStart(digits, '0')}  ${r.name.padEnd(nameWidth)}  ${r.size.padStart(sizeWidth)}  ${r.versions}`)
    ];
}
const KIND_LETTER = { upgrade: 'U', downgrade: 'D', changed: 'C', added: 'A', removed: 'R' };
const row = (c, letter, size, versions) => ({
    mark: `[${letter}${c.selection}]`,
    name: c.name,
    size,
    versions
});
const versionRow = (c, letter) => row(c, letter, formatBytes(c.bytesAfter - c.bytesBefore, true), `${formatVersions(c.before)} -> ${formatVersions(c.after)}`);
const signed = (n) => (n >= 0 ? `+${n}` : `${n}`);
/**
 * The nvd text users know, for one host's diff. Each package line carries its size change, as nvd prints it with
 * Nix 2.19 and later: a version change its delta, an added package its size, a removed one its size negated, a
 * selection change its (unchanged) size.
 */
function nvdText(diff, before, after) {
    const packages = [
        ...section('Version changes:', diff.changed.map(c => versionRow(c, KIND_LETTER[c.kind]))),
        ...section('Pname changes:', diff.renamed.map(r => versionRow(r, 'U'))),
        ...section('Selection state changes:', diff.selectionChanged.map(c => row(c, 'C', formatBytes(c.bytesBefore), formatVersions(c.before)))),
        ...section('Added packages:', diff.added.map(c => row(c, 'A', formatBytes(c.bytesAfter, true), formatVersions(c.after)))),
        ...section('Removed packages:', diff.removed.map(c => row(c, 'R', formatBytes(-c.bytesBefore, true), formatVersions(c.before))))
    ];
    return [
        ...(before ? [`<<< ${before}`] : []),
        ...(after ? [`>>> ${after}`] : []),
        ...(packages.length > 0 ? packages : ['No version or selection state changes.']),
        `Closure size: ${diff.pathsBefore} -> ${diff.pathsAfter} (${diff.pathsAdded} paths added, ${diff.pathsRemoved} paths removed, delta ${signed(diff.pathsAfter - diff.pathsBefore)}, disk usage ${formatBytes(diff.bytesAfter - diff.bytesBefore, true)}).`
    ].join('\n');
}


/***/ }),

/***/ 8363:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.rolloutLines = rolloutLines;
const gates_1 = __nccwpck_require__(4549);
const escape_1 = __nccwpck_require__(4031);
/** `2026-12-01 05:12 UTC` */
function when(iso) {
    const t = iso === undefined ? NaN : Date.parse(iso);
    return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—';
}
function hostList(hosts) {
    return hosts.length === 0 ? '—' : hosts.map(h => (0, escape_1.inline)(h)).join(', ');
}
/**
 * The "Rollout" section: per wave, the commit it deploys (the branch's newest for wave 0, the gated one above),
 * since when, and which of its hosts are done, waiting, failed or never reported; then the halt, if any, and the
 * statuses this run posted. Hosts' descriptions are upstream text: escaped and defused.
 */
function rolloutLines(plan, 
/** `posted`: the statuses the forge took; undefined on a dry run. */
options) {
    const out = ['', '### Rollout', ''];
    out.push(`Waves of \`${(0, escape_1.inline)(options.base)}\`; a wave above 0 gets a commit once every host of the waves below ran it (or a later one) for ${(0, gates_1.formatSoak)(options.soakMs)}${options.requireAll ? '; hosts that never reported block' : '; hosts that never reported do not block'}.`, '');
    if (plan.halted) {
        const h = plan.halted;
        out.push(`**Halted** at \`${h.commit.slice(0, 7)}\` by wave ${h.wave}: ${(0, escape_1.inline)(h.reason, 400)}. No higher wave gets this commit or a later one until those hosts report a successful upgrade.`, '');
    }
    out.push('| wave | deploys | since | done | waiting | failed | never reported |', '|---|---|---|---|---|---|---|');
    for (const w of plan.waves) {
        const target = w.target ? `\`${w.target.slice(0, 7)}\`` : 'nothing gated yet';
        out.push(`| ${w.wave} | ${target} | ${when(w.since)} | ${hostList(w.done)} | ${hostList(w.waiting)} | ${hostList(w.failed)} | ${hostList(w.neverReported)} |`);
    }
    const notes = plan.waves.filter(w => w.note);
    if (notes.length > 0) {
        out.push('');
        for (const w of notes)
            out.push(`- Wave ${w.wave}: ${(0, escape_1.inline)(w.note ?? '', 300)}`);
    }
    if (plan.waveErrors.length > 0) {
        out.push('', 'Hosts whose wave could not be evaluated count as wave 0:');
        for (const e of plan.waveErrors)
            out.push(`- ${(0, escape_1.inline)(e.host)}: ${(0, escape_1.inline)(e.error ?? '', 300)}`);
    }
    const line = (p) => `- \`${(0, escape_1.inline)(p.context)}\` ${p.state} on \`${p.commit.slice(0, 7)}\`: ${(0, escape_1.inline)(p.description)}`;
    if (plan.post.length === 0) {
        out.push('', 'Every gate was already in place: nothing posted.');
    }
    else if (options.posted === undefined) {
        out.push('', 'To post (dry run, nothing posted):', ...plan.post.map(line));
    }
    else {
        const made = new Set(options.posted);
        const refused = plan.post.filter(p => !made.has(p));
        if (options.posted.length > 0)
            out.push('', 'Posted:', ...options.posted.map(line));
        if (refused.length > 0)
            out.push('', 'Not posted (the forge refused them, see the log):', ...refused.map(line));
    }
    return out;
}


/***/ }),

/***/ 1344:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.runUrl = runUrl;
/**
 * The web page of this workflow run, where the job summary holds the full report. GitHub addresses a run by
 * GITHUB_RUN_ID; Forgejo's run pages take the repository's own run index (`/{owner}/{repo}/actions/runs/{index}`),
 * which its runner passes as GITHUB_RUN_NUMBER, while its GITHUB_RUN_ID is an instance-wide id that names another
 * run or none. Without the number it needs, there is no link rather than a wrong one.
 */
function runUrl(env, forge) {
    const server = env.GITHUB_SERVER_URL;
    const repo = env.GITHUB_REPOSITORY;
    const id = forge === 'forgejo' ? env.GITHUB_RUN_NUMBER : env.GITHUB_RUN_ID;
    if (!server || !repo || !id || !/^\d+$/.test(id))
        return undefined;
    return `${server.replace(/\/+$/, '')}/${repo}/actions/runs/${id}`;
}


/***/ }),

/***/ 3844:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.NVD_LEGEND = exports.UNIT_ACTIONS = void 0;
exports.unitLine = unitLine;
exports.sharedUnitChanges = sharedUnitChanges;
exports.majorMinor = majorMinor;
exports.systemFlags = systemFlags;
exports.codeSpan = codeSpan;
exports.commandSpan = commandSpan;
exports.reproduceCommands = reproduceCommands;
exports.inputChangesLine = inputChangesLine;
exports.pendingLine = pendingLine;
exports.nixLabel = nixLabel;
const configurations_1 = __nccwpck_require__(724);
const escape_1 = __nccwpck_require__(4031);
/** The unit lists in the order the report shows them, with their labels. */
exports.UNIT_ACTIONS = [
    { key: 'restart', label: 'restart' },
    { key: 'reload', label: 'reload' },
    { key: 'start', label: 'start' },
    { key: 'stop', label: 'stop' },
    { key: 'notRestarted', label: 'changed, not restarted' }
];
/** `restart: nginx.service, sshd.service · reload: …`, or undefined when `switch` touches no unit. */
function unitLine(u) {
    if (!u)
        return undefined;
    const parts = exports.UNIT_ACTIONS.filter(a => u[a.key].length > 0).map(a => `${a.label}: ${u[a.key].map(n => (0, escape_1.inline)(n)).join(', ')}`);
    return parts.length > 0 ? parts.join(' · ') : undefined;
}
/** Unit actions that several hosts share (`restart sshd.service`), each with its hosts, most hosts first. */
function sharedUnitChanges(hosts) {
    const by = new Map();
    for (const h of hosts) {
        for (const a of exports.UNIT_ACTIONS) {
            for (const unit of h.units?.[a.key] ?? []) {
                const key = `${a.label}: ${unit}`;
                by.set(key, [...(by.get(key) ?? []), h.host]);
            }
        }
    }
    return [...by]
        .filter(([, list]) => list.length >= 2)
        .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
        .map(([text, list]) => ({ text, hosts: list }));
}
/** `24.05` from a `nixos-version` such as `24.05.20240612.cc54fb4`; `6.6` from a kernel's `6.6.31`. */
function majorMinor(version) {
    return /^(\d+\.\d+)/.exec(version ?? '')?.[1];
}
/**
 * Changes an admin must see before anything else: the NixOS release and the kernel's major or minor version,
 * grouped by change (`24.05 → 24.11`) with the hosts that get it.
 */
function systemFlags(hosts) {
    const out = [];
    const group = (what, pick) => {
        const by = new Map();
        for (const h of hosts) {
            const [from, to] = pick(h);
            if (!from || !to || from === to)
                continue;
            const key = `${from} → ${to}`;
            by.set(key, [...(by.get(key) ?? []), h.host]);
        }
        for (const [change, list] of by)
            out.push({ what, change, hosts: list });
    };
    group('release', h => [majorMinor(h.release?.before), majorMinor(h.release?.after)]);
    group('kernel', h => [majorMinor(h.kernel?.before), majorMinor(h.kernel?.after)]);
    return out;
}
/** An inline code span that no backtick in `text` can close early. */
function codeSpan(text) {
    const body = (0, escape_1.clean)(text).replace(/\s+/g, ' ');
    let longest = 0;
    for (const m of body.matchAll(/`+/g))
        longest = Math.max(longest, m[0].length);
    const fence = '`'.repeat(longest + 1);
    const pad = body.startsWith('`') || body.endsWith('`') ? ' ' : '';
    return `${fence}${pad}${body}${pad}${fence}`;
}
/**
 * A command to copy: a code span when it holds nothing a forge could read as a reference or mention (the flake
 * attribute's `#` is followed by the output's name, never a number); otherwise escaped and defused text.
 */
function commandSpan(c, set = 'nixosConfigurations') {
    return /^[A-Za-z0-9 ._/"'+=:?&%-]*$/.test(c.replace(`#${set}.`, '')) ? codeSpan(c) : (0, escape_1.inline)(c, 500);
}
/** A flake attribute path segment: bare when Nix reads it bare, else quoted. */
function attr(name) {
    return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : JSON.stringify(name);
}
/** Commands that show a failure on one's own machine: build the system, read the failed derivations' logs. */
function reproduceCommands(h, flakeRef = '.', set = 'nixosConfigurations') {
    const failed = h.after && h.after.status !== 'built' ? h.after : h.before;
    const cmds = [`nix build ${flakeRef}#${set}.${attr(h.host)}.${configurations_1.BUILT_ATTRIBUTE[set].join('.')}`];
    for (const drv of failed?.failedDrvs ?? [])
        cmds.push(`nix log ${drv}`);
    return cmds;
}
/** What a regressed host would have received: the inputs that changed, by revision. */
function inputChangesLine(changes) {
    if (changes.length === 0)
        return undefined;
    const id = (l) => l?.rev ? l.rev.slice(0, 7) : l?.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 7) : '–';
    return changes.map(c => `${(0, escape_1.inline)(c.input)} ${codeSpan(id(c.old))} → ${codeSpan(id(c.new))}`).join(', ');
}
/** Package versions shown for a regressed host before the rest are counted. */
const MAX_PENDING_SHOWN = 30;
/** `openssl 3.0.13 → 3.0.14, curl 8.7.1 → 8.8.0`, or undefined when there is nothing to show. */
function pendingLine(changes) {
    if (!changes || changes.length === 0)
        return undefined;
    const shown = changes
        .slice(0, MAX_PENDING_SHOWN)
        .map(c => (0, escape_1.inline)(`${c.name} ${c.before.join(', ')} → ${c.after.join(', ')}`));
    if (changes.length > MAX_PENDING_SHOWN)
        shown.push(`${changes.length - MAX_PENDING_SHOWN} more`);
    return shown.join(', ');
}
/** `Nix 2.8.0`, `Lix 2.91.1`, `Determinate Nix 3.6.2 (Nix 2.29.0)` from `nix --version`'s line. */
function nixLabel(text) {
    const m = /^nix \((.+?)\) (\S+)$/.exec(text.trim());
    if (!m)
        return text;
    const [, impl, version] = m;
    if (impl === 'Nix')
        return `Nix ${version}`;
    if (/^Lix\b/.test(impl))
        return `Lix ${version}`;
    return `${impl} (Nix ${version})`;
}
/** nvd's markers, explained once above the per-host detail. */
exports.NVD_LEGEND = 'Markers: `U` upgraded, `D` downgraded, `C` changed otherwise (another copy, versions side by side, or only ' +
    'the selection), `A` added, `R` removed; then `*` selected (in the system packages) before and after, ' +
    '`.` a dependency, `+` newly selected, `-` no longer selected.';


/***/ }),

/***/ 2691:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.plural = plural;
/** `1 host`, `3 hosts`: a count with its noun, plural by English rule or as given. */
function plural(n, one, many = `${one}s`) {
    return `${n} ${n === 1 ? one : many}`;
}


/***/ }),

/***/ 9809:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.sleep = void 0;
exports.backoff = backoff;
/** Waits `ms` milliseconds. */
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms));
exports.sleep = sleep;
/** The wait before retry number `attempt` (1, 2, …): `baseMs`, doubled each time, at most `maxMs`. */
function backoff(attempt, baseMs, maxMs) {
    return Math.min(baseMs * 2 ** (attempt - 1), maxMs);
}


/***/ }),

/***/ 4549:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.GATE_PREFIX = void 0;
exports.gateContext = gateContext;
exports.planRollout = planRollout;
exports.formatSoak = formatSoak;
const fleet_state_1 = __nccwpck_require__(9087);
/**
 * The context of a wave's gate: a host in wave N > 0 deploys the newest base-branch commit whose latest status
 * with this context is `success` (services.fleet-auto-upgrade.rollout.wave).
 */
exports.GATE_PREFIX = 'nixos-rollout/wave-';
function gateContext(wave) {
    return `${exports.GATE_PREFIX}${wave}`;
}
const time = (iso) => {
    const t = Date.parse(iso);
    return Number.isFinite(t) ? t : 0;
};
const short = (sha) => sha.slice(0, 7);
function iso(ms) {
    return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
/** `a, b, c` or `a, b and 3 more`. */
function names(hosts, max = 3) {
    return hosts.length <= max
        ? hosts.join(', ')
        : `${hosts.slice(0, max).join(', ')} and ${hosts.length - max} more`;
}
/** For each commit, itself and its ancestors among the commits read. */
function ancestry(commits) {
    const known = new Set(commits.map(c => c.sha));
    const result = new Map();
    // Oldest first, so that parents are done before their children.
    for (let i = commits.length - 1; i >= 0; i--) {
        const c = commits[i];
        const parents = c.parents ?? (i + 1 < commits.length ? [commits[i + 1].sha] : []);
        const set = new Set([c.sha]);
        for (const p of parents)
            if (known.has(p))
                for (const a of result.get(p) ?? [])
                    set.add(a);
        result.set(c.sha, set);
    }
    return result;
}
/** The latest status per commit and context: a later status of a context replaces an earlier one on both forges. */
function latestByCommit(statuses) {
    const latest = new Map();
    // Newest first as both forges list them; at equal times the first one listed wins.
    for (const s of statuses) {
        const key = `${s.sha} ${s.context}`;
        const seen = latest.get(key);
        if (!seen || time(s.at) > time(seen.at))
            latest.set(key, s);
    }
    return latest;
}
/**
 * What the rollout controller does now, from the base branch's statuses: for each wave N above 0, the newest
 * commit C such that every host of the waves below N that has reported (all of them with `requireAll`) reported
 * a successful upgrade on C or on a later commit (a descendant), the latest of those hosts' first such reports at
 * least `soakMs` old, and no host of those waves has a failure on C or an ancestor that a later success of that
 * host (on the failed commit or a descendant) undid. Gates already there are not posted again; a gate on a commit
 * that such a failure halts is withdrawn (a `failure` status with the same context), so that no host of the wave
 * deploys it.
 */
function planRollout(input) {
    const { commits, now } = input;
    const anc = ancestry(commits);
    const known = new Set(commits.map(c => c.sha));
    const isAncestorOrSelf = (a, c) => anc.get(c)?.has(a) ?? false;
    const index = new Map(commits.map((c, i) => [c.sha, i]));
    const waveOf = new Map(input.hosts.map(h => [h.host, h.wave]));
    const reports = new Map();
    for (const s of input.statuses) {
        if (!s.context.startsWith(fleet_state_1.CONTEXT_PREFIX) || !known.has(s.sha))
            continue;
        const host = s.context.slice(fleet_state_1.CONTEXT_PREFIX.length);
        if (!waveOf.has(host))
            continue;
        const ok = s.state === 'success';
        if (!ok && s.state !== 'failure' && s.state !== 'error')
            continue;
        const list = reports.get(host) ?? [];
        list.push({ host, sha: s.sha, at: time(s.at), ok, description: s.description });
        reports.set(host, list);
    }
    const successes = (host) => (reports.get(host) ?? []).filter(r => r.ok);
    // A failure stands until the host reports a success on the failed commit or a later one, after it.
    const openFailures = (host) => (reports.get(host) ?? []).filter(f => !f.ok && !successes(host).some(s => s.at > f.at && isAncestorOrSelf(f.sha, s.sha)));
    const hasReported = (host) => reports.has(host);
    const firstSuccessFrom = (host, c) => {
        const times = successes(host)
            .filter(s => isAncestorOrSelf(c, s.sha))
            .map(s => s.at);
        return times.length > 0 ? Math.min(...times) : undefined;
    };
    const latest = latestByCommit(input.statuses);
    const gateState = (wave, sha) => latest.get(`${sha} ${gateContext(wave)}`);
    const maxWave = Math.max(0, ...input.hosts.map(h => h.wave));
    const post = [];
    const gates = [];
    const waves = [];
    // The halt: the lowest wave below the top one with a standing failure, at its oldest failed commit.
    let halted;
    for (let w = 0; w < maxWave && !halted; w++) {
        const failures = input.hosts.filter(h => h.wave === w).flatMap(h => openFailures(h.host));
        if (failures.length === 0)
            continue;
        const oldest = failures.reduce((a, b) => ((index.get(b.sha) ?? 0) > (index.get(a.sha) ?? 0) ? b : a));
        const at = failures.filter(f => f.sha === oldest.sha);
        const hosts = [...new Set(at.map(f => f.host))].sort();
        halted = {
            wave: w,
            commit: oldest.sha,
            hosts,
            reason: hosts
                .map(h => `${h}: ${at.find(f => f.host === h)?.description || 'upgrade failed'}`)
                .join('; ')
        };
    }
    for (let wave = 0; wave <= maxWave; wave++) {
        const members = input.hosts
            .filter(h => h.wave === wave)
            .map(h => h.host)
            .sort();
        let target;
        let since;
        let note;
        if (wave === 0) {
            target = commits[0]?.sha;
            since = commits[0]?.date;
        }
        else {
            const lower = input.hosts.filter(h => h.wave < wave).map(h => h.host);
            const never = lower.filter(h => !hasReported(h));
            const counted = lower.filter(hasReported);
            const blockers = (c) => counted.flatMap(h => openFailures(h)).filter(f => isAncestorOrSelf(f.sha, c));
            let gate;
            let tipReason;
            const why = (reason, c) => {
                if (tipReason === undefined && c === commits[0]?.sha)
                    tipReason = reason;
            };
            if (lower.length === 0) {
                if (commits[0])
                    gate = { sha: commits[0].sha, since: now.getTime(), hosts: 0 };
            }
            else if (input.requireAll && never.length > 0) {
                note = `waiting for ${names(never.sort())}, which never reported (rollout-require-all)`;
            }
            else if (counted.length === 0) {
                note = `no host of waves below ${wave} has reported yet`;
            }
            else {
                for (const c of commits) {
                    const failed = blockers(c.sha);
                    if (failed.length > 0) {
                        why(`halted: ${names([...new Set(failed.map(f => f.host))].sort())} failed`, c.sha);
                        continue;
                    }
                    const firsts = counted.map(h => ({ h, t: firstSuccessFrom(h, c.sha) }));
                    const missing = firsts.filter(x => x.t === undefined).map(x => x.h);
                    if (missing.length > 0) {
                        why(`waiting for ${names(missing.sort())} to upgrade to it`, c.sha);
                        continue;
                    }
                    const last = Math.max(...firsts.map(x => x.t));
                    if (now.getTime() - last < input.soakMs) {
                        why(`soaking until ${iso(last + input.soakMs)}`, c.sha);
                        continue;
                    }
                    gate = { sha: c.sha, since: last, hosts: counted.length };
                    break;
                }
                if (gate?.sha !== commits[0]?.sha && commits[0] && tipReason) {
                    note = `${short(commits[0].sha)} (newest): ${tipReason}`;
                }
            }
            // Gates that a standing failure of a lower wave now halts are withdrawn.
            const withdrawn = new Set();
            for (const c of commits) {
                const s = gateState(wave, c.sha);
                if (s?.state !== 'success')
                    continue;
                const failed = blockers(c.sha);
                if (failed.length === 0)
                    continue;
                const f = failed[0];
                withdrawn.add(c.sha);
                post.push({
                    wave,
                    commit: c.sha,
                    state: 'failure',
                    context: gateContext(wave),
                    description: clip(`halted: ${f.host} failed on ${short(f.sha)}: ${f.description}`)
                });
            }
            const effective = (sha) => !withdrawn.has(sha) && gateState(wave, sha)?.state === 'success';
            // A gate already on the commit, or on a later one, stands: nothing to post.
            const covered = gate && commits.some(c => isAncestorOrSelf(gate.sha, c.sha) && effective(c.sha));
            let posted = false;
            if (gate && !covered) {
                posted = true;
                post.push({
                    wave,
                    commit: gate.sha,
                    state: 'success',
                    context: gateContext(wave),
                    description: clip(gate.hosts === 0
                        ? `no host in waves below ${wave}`
                        : `${wave === 1 ? 'wave 0' : `waves 0-${wave - 1}`}: ${gate.hosts} host${gate.hosts === 1 ? '' : 's'} on it or later since ${iso(gate.since)} (soak ${formatSoak(input.soakMs)})`)
                });
            }
            // The newest commit the wave's hosts deploy after this run.
            const deployed = commits.find(c => (posted && c.sha === gate?.sha) || effective(c.sha));
            if (deployed) {
                target = deployed.sha;
                const existing = gateState(wave, deployed.sha);
                since = posted && deployed.sha === gate?.sha ? now.toISOString() : existing?.at;
                const previous = commits.find(c => effective(c.sha))?.sha;
                gates.push({
                    wave,
                    commit: deployed.sha,
                    posted: posted && deployed.sha === gate?.sha,
                    ...(previous ? { previous } : {})
                });
            }
        }
        const done = [];
        const failed = [];
        const waiting = [];
        const neverReported = [];
        for (const h of members) {
            if (!hasReported(h))
                neverReported.push(h);
            else if (openFailures(h).length > 0)
                failed.push(h);
            else if (target && firstSuccessFrom(h, target) !== undefined)
                done.push(h);
            else
                waiting.push(h);
        }
        waves.push({ wave, hosts: members, target, since, done, failed, waiting, neverReported, note });
    }
    return {
        waves,
        post,
        gates,
        halted,
        waveErrors: input.hosts.filter(h => h.error !== undefined)
    };
}
function clip(text) {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 140 ? `${t.slice(0, 139)}…` : t;
}
/** `6h`, `1d12h`, `90m`, `0m`: the soak as the input spells durations. */
function formatSoak(ms) {
    if (ms <= 0)
        return '0m';
    const d = Math.floor(ms / 86400000);
    const h = Math.floor((ms % 86400000) / 3600000);
    const m = Math.floor((ms % 3600000) / 60000);
    return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}` || '0m';
}


/***/ }),

/***/ 8908:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.parseRolloutSettings = parseRolloutSettings;
const errors_1 = __nccwpck_require__(3916);
const parse_1 = __nccwpck_require__(3718);
/** `rollout-soak` and `rollout-require-all`, as the inputs give them (empty: the default). */
function parseRolloutSettings(raw) {
    const soakText = raw.soak.trim() || '6h';
    // 0 is allowed: the next wave follows as soon as every host of the waves below reported.
    const soakMs = /^0+[dhm]?$/.test(soakText) ? 0 : (0, parse_1.parseDuration)(soakText);
    if (soakMs === undefined) {
        throw new errors_1.InputError(`Input 'rollout-soak' must be a duration such as 6h, 1d or 90m (or 0), got ${JSON.stringify(soakText)}`);
    }
    const requireAll = (0, parse_1.parseBoolean)(() => raw.requireAll.trim(), 'rollout-require-all');
    return { soakMs, requireAll };
}


/***/ }),

/***/ 535:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.readWave = readWave;
exports.evaluateWaves = evaluateWaves;
const exec_1 = __nccwpck_require__(3190);
const expr_1 = __nccwpck_require__(7560);
const stderr_1 = __nccwpck_require__(4923);
/** A wave as Nix printed it for one host: a whole number, else what went wrong. */
function readWave(value) {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
        return { wave: value };
    if (typeof value === 'number')
        return { error: `${expr_1.WAVE_OPTION} is ${value}, not a whole number of at least 0` };
    const type = value && typeof value === 'object' && typeof value.type === 'string'
        ? value.type
        : typeof value;
    return { error: `${expr_1.WAVE_OPTION} is a ${type}, not a whole number` };
}
/** A process that died rather than answered: killed over its memory limit or by a signal, or out of memory. */
function died(r) {
    return r.overLimit === true || r.exitCode > 128 || /^error: out of memory/m.test(r.stderr);
}
/**
 * Each host's rollout wave, from one evaluation of all of them (no system is evaluated or built). A shared
 * evaluation that fails (an error tryEval cannot catch, a process over `memoryLimit`) is split in halves and
 * tried again, so one broken host costs a few processes, not one per host. A host whose wave is not a whole
 * number, or throws, is evaluated alone for Nix's message; it then counts as wave 0 (it gates every wave above
 * it) with that message as its `error`.
 */
async function evaluateWaves(nix, flake, hosts, memoryLimit) {
    const result = new Map();
    const set = (host, value) => {
        const w = readWave(value);
        result.set(host, 'wave' in w ? { host, wave: w.wave } : { host, wave: 0, error: w.error });
    };
    const alone = async (host) => {
        const r = await nix.evalWaves(flake, [host], memoryLimit);
        if (r.exitCode !== 0) {
            const said = (0, exec_1.tail)((0, stderr_1.stripWarnings)(r.stderr), 10);
            const error = died(r)
                ? `the evaluation of its wave was killed (exit code ${r.exitCode}${r.overLimit ? ', over the memory budget' : ''})`
                : said || `nix eval exited with code ${r.exitCode}`;
            result.set(host, { host, wave: 0, error });
            return;
        }
        try {
            set(host, JSON.parse(r.stdout));
        }
        catch {
            result.set(host, { host, wave: 0, error: `nix eval printed no JSON: ${r.stdout.slice(0, 200)}` });
        }
    };
    const chunk = async (part) => {
        if (part.length === 1)
            return alone(part[0]);
        const r = await nix.evalWaves(flake, part, memoryLimit);
        let parsed;
        try {
            const data = r.exitCode === 0 ? JSON.parse(r.stdout) : undefined;
            if (data && typeof data === 'object' && !Array.isArray(data))
                parsed = data;
        }
        catch {
            parsed = undefined;
        }
        if (!parsed) {
            const half = Math.ceil(part.length / 2);
            await chunk(part.slice(0, half));
            await chunk(part.slice(half));
            return;
        }
        for (const host of part) {
            const v = parsed[host];
            if (typeof v === 'number')
                set(host, v);
            else
                await alone(host);
        }
    };
    if (hosts.length > 0)
        await chunk(hosts);
    return hosts.map(h => result.get(h));
}


/***/ }),

/***/ 670:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Run = exports.Undo = void 0;
exports.makeWorkDir = makeWorkDir;
const fs = __importStar(__nccwpck_require__(9896));
const os = __importStar(__nccwpck_require__(857));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const exec_1 = __nccwpck_require__(3190);
const state_1 = __nccwpck_require__(2462);
/** Functions run once each, newest first; one that throws is a warning and the rest still run. */
class Undo {
    log;
    steps = [];
    constructor(log) {
        this.log = log;
    }
    push(step) {
        this.steps.push(step);
    }
    runAll() {
        for (const step of this.steps.splice(0).reverse()) {
            try {
                step();
            }
            catch (e) {
                this.log.warning(`Cleanup failed: ${String(e)}`);
            }
        }
    }
}
exports.Undo = Undo;
/**
 * What every step of a run shares: the settings, the environment the run was started in, the log port, the work
 * directory, the phases' timings, and two stacks: `cleanup` runs when the run ends, however it ends; `onStop`
 * before it only when a signal stops the run (it undoes what a finished run keeps).
 */
class Run {
    settings;
    env;
    log;
    workDir;
    onPhase;
    timings = [];
    cleanup;
    onStop;
    /** Directories the `post:` step removes should this step be killed outright. */
    postDirs;
    /** Put before every phase's name: which flake of several the phase works on. */
    label = '';
    constructor(settings, env, log, workDir, onPhase, parent) {
        this.settings = settings;
        this.env = env;
        this.log = log;
        this.workDir = workDir;
        this.onPhase = onPhase;
        if (parent) {
            // A flake of several: the parent's undo stacks and post-step directories, a work directory inside its own.
            this.cleanup = parent.cleanup;
            this.onStop = parent.onStop;
            this.postDirs = parent.postDirs;
            return;
        }
        this.cleanup = new Undo(log);
        this.onStop = new Undo(log);
        this.postDirs = [workDir];
        log.saveState(state_1.STATE.cleanupDirs, workDir);
        // A stopped run leaves no report behind: its results would be partial.
        this.onStop.push(() => fs.rmSync(workDir, { recursive: true, force: true }));
    }
    /**
     * The run of one flake of several: settings whose `flakeDir` is that flake, its own work directory (GC roots,
     * the saved lock, report.json's neighbours) and timings, phases named after it; the same undo stacks.
     */
    forFlake(flakeDir, label, index, hosts = this.settings.hosts) {
        const dir = path.join(this.workDir, `flake-${index + 1}`);
        fs.mkdirSync(dir, { recursive: true });
        const child = new Run({ ...this.settings, flakeDir, hosts }, this.env, this.log, dir, this.onPhase, this);
        child.label = `${label}: `;
        return child;
    }
    /** Runs one phase inside a log group, records how long it took and reports its start and end. */
    async phase(phaseName, fn, options = {}) {
        const name = `${this.label}${phaseName}`;
        const start = Date.now();
        const elapsed = () => (Date.now() - start) / 1000;
        this.onPhase?.({ phase: name, state: 'start', hosts: options.hosts });
        let result;
        try {
            result = await this.log.group(name, fn);
            // Results of a phase that a signal cut short are not results: nothing after it may use them.
            const signal = (0, exec_1.stopping)();
            if (signal)
                throw new Error(`Stopped by ${signal} during: ${name}`);
        }
        catch (e) {
            this.onPhase?.({ phase: name, state: 'failed', hosts: options.hosts, seconds: elapsed() });
            throw e;
        }
        const seconds = elapsed();
        this.timings.push({ phase: phaseName, seconds });
        const outcome = options.outcome?.(result);
        this.log.info(`${name}: ${seconds.toFixed(1)} s${outcome ? ` (${outcome})` : ''}`);
        this.onPhase?.({ phase: name, state: 'end', hosts: options.hosts, seconds, outcome });
        return result;
    }
    /** Writes a secret to a private file that this step removes at its end, and the post step after a crash. */
    secretFile(secret) {
        const dir = fs.mkdtempSync(path.join(this.env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-key-'));
        fs.chmodSync(dir, 0o700);
        const file = path.join(dir, 'signing-key');
        fs.writeFileSync(file, secret.endsWith('\n') ? secret : `${secret}\n`, { mode: 0o600 });
        this.postDirs.push(dir);
        this.log.saveState(state_1.STATE.cleanupDirs, this.postDirs.join('\n'));
        this.cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        return file;
    }
    /** Runs each write on its own: a full disk or an unwritable file loses that one write, not the others. */
    writeEach(writes) {
        const failures = [];
        for (const w of writes) {
            try {
                w.write();
            }
            catch (e) {
                const failure = `${w.what} to ${w.file ?? '(no file)'}: ${(0, errors_1.errorMessage)(e)}`;
                this.log.warning(`Could not write ${failure}`);
                failures.push(failure);
            }
        }
        return failures;
    }
}
exports.Run = Run;
/** A directory for this run's files (report.json, the private index, GC roots); kept until the job ends. */
function makeWorkDir(env) {
    return fs.mkdtempSync(path.join(env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-'));
}


/***/ }),

/***/ 9507:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.writeOutputs = writeOutputs;
exports.prBody = prBody;
exports.writeResults = writeResults;
exports.writeSeveralResults = writeSeveralResults;
exports.writePublishOutputs = writePublishOutputs;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const hold_back_1 = __nccwpck_require__(6997);
const fleet_state_1 = __nccwpck_require__(5362);
const markdown_1 = __nccwpck_require__(4285);
const model_1 = __nccwpck_require__(6867);
const run_link_1 = __nccwpck_require__(1344);
/** One write per output, so that one that fails does not stop the rest. */
function outputWrites(run, outputs) {
    return Object.entries(outputs).map(([name, value]) => ({
        what: `the output '${name}'`,
        file: run.env.GITHUB_OUTPUT,
        write: () => run.log.output(name, value ?? '')
    }));
}
/** Writes outputs, each independently; returns the writes that failed, each naming its file. */
function writeOutputs(run, outputs) {
    return run.writeEach(outputWrites(run, outputs));
}
/** The pull request body: the report within the forges' size limit, pointing at the full one. */
function prBody(run, report) {
    return (0, markdown_1.renderReport)(report, bodyOptions(run));
}
/** How a pull request body is rendered: the full report's place, and no timings. */
function bodyOptions(run) {
    const url = (0, run_link_1.runUrl)(run.env, run.settings.forge);
    // No timings: they differ on every run, and the body should change only when the update does.
    return {
        limit: markdown_1.REPORT_LIMIT,
        fullReport: url ? `the job summary of [the workflow run](${url})` : undefined,
        timings: false
    };
}
function listsOf(report, update) {
    return {
        hosts: report.hosts.map(h => h.host),
        updatedInputs: update?.updatedInputs ?? [],
        failedHosts: (0, model_1.failedHosts)(report),
        regressedHosts: (0, model_1.regressedHosts)(report),
        rebootHosts: (0, model_1.rebootHosts)(report),
        staleHosts: (0, fleet_state_1.staleHosts)(report.fleetState),
        failedUpgrades: (0, fleet_state_1.failedUpgrades)(report.fleetState),
        heldBack: JSON.parse((0, hold_back_1.heldBackOutput)(report.heldBack ?? []))
    };
}
/** Lists built list by list: `names` gives each list of names, `heldBack` the held-back entries. */
function eachList(names, heldBack) {
    return {
        hosts: names('hosts'),
        updatedInputs: names('updatedInputs'),
        failedHosts: names('failedHosts'),
        regressedHosts: names('regressedHosts'),
        rebootHosts: names('rebootHosts'),
        staleHosts: names('staleHosts'),
        failedUpgrades: names('failedUpgrades'),
        heldBack
    };
}
/** One flake's lists among several: every name prefixed with the flake's directory and `#`. */
function qualified(label, l) {
    return eachList(key => l[key].map(n => `${label}#${n}`), l.heldBack.map(h => ({ flake: label, ...h })));
}
/** The lists report.json holds beside a report. */
function jsonLists(l) {
    return {
        updatedInputs: l.updatedInputs,
        failedHosts: l.failedHosts,
        regressedHosts: l.regressedHosts,
        rebootHosts: l.rebootHosts
    };
}
/** Several flakes' pushes as one: failed if one failed, pushed if one pushed; paths and bytes added up. */
function pushOf(pushes) {
    const done = pushes.filter((p) => p !== undefined);
    if (done.length <= 1)
        return done[0];
    const status = done.some(p => p.status === 'failed')
        ? 'failed'
        : done.some(p => p.status === 'pushed')
            ? 'pushed'
            : 'skipped';
    const sum = (f) => done.reduce((n, p) => n + f(p), 0);
    return {
        ...done[0],
        status,
        hosts: done.flatMap(p => p.hosts),
        paths: sum(p => p.paths),
        bytes: sum(p => p.bytes),
        closurePaths: sum(p => p.closurePaths),
        error: done.map(p => p.error).find(Boolean)
    };
}
/** Writes the outputs, the job summary and the JSON file, each independently of the others. */
function writeAll(run, r) {
    const jsonPath = path.join(run.workDir, 'report.json');
    const summaryFile = run.env.GITHUB_STEP_SUMMARY;
    const { lists, push } = r;
    const failures = run.writeEach([
        ...outputWrites(run, {
            hosts: JSON.stringify(lists.hosts),
            changed: String(r.changed),
            'updated-inputs': JSON.stringify(lists.updatedInputs),
            'failed-hosts': JSON.stringify(lists.failedHosts),
            'regressed-hosts': JSON.stringify(lists.regressedHosts),
            'reboot-hosts': JSON.stringify(lists.rebootHosts),
            'push-status': push?.status ?? '',
            'pushed-paths': push ? String(push.paths) : '',
            'pushed-bytes': push ? String(push.bytes) : '',
            'stale-hosts': JSON.stringify(lists.staleHosts),
            'failed-upgrades': JSON.stringify(lists.failedUpgrades),
            'held-back-inputs': JSON.stringify(lists.heldBack),
            report: r.body,
            'report-json': jsonPath
        }),
        { what: 'the job summary', file: summaryFile, write: () => run.log.summary(r.full) },
        { what: 'the JSON report', file: jsonPath, write: () => fs.writeFileSync(jsonPath, r.json) }
    ]);
    if (!summaryFile && run.env.GITHUB_ACTIONS !== 'true')
        run.log.info(`Not on a runner: the report is in ${jsonPath}`);
    return { body: r.body, full: r.full, json: r.json, failures, regressedHosts: lists.regressedHosts };
}
/**
 * Writes the JSON file, the job summary and every output, each independently of the others; the same for a
 * changed and an unchanged lock. Returns the writes that failed, each naming its file.
 */
function writeResults(run, report, update) {
    const lists = listsOf(report, update);
    const json = JSON.stringify({ ...report, ...jsonLists(lists) }, null, 2);
    return writeAll(run, {
        body: prBody(run, report),
        full: (0, markdown_1.renderReport)(report, { limit: markdown_1.SUMMARY_LIMIT }),
        json,
        changed: report.changed,
        lists,
        push: report.push
    });
}
/**
 * The results of several flakes: one report with a part per flake, outputs whose names carry their flake's
 * directory (`./hosts/a#web`), a JSON file with a `flakes` list.
 */
function writeSeveralResults(run, flakes) {
    const each = flakes.map(f => ({ ...f, lists: listsOf(f.report, f.update) }));
    const all = each.map(f => qualified(f.label, f.lists));
    const lists = eachList(key => all.flatMap(l => l[key]), all.flatMap(l => l.heldBack));
    const changed = flakes.some(f => f.report.changed);
    const json = JSON.stringify({ changed, ...jsonLists(lists), flakes: each.map(f => ({ ...f.report, ...jsonLists(f.lists) })) }, null, 2);
    const reports = flakes.map(f => f.report);
    return writeAll(run, {
        body: (0, markdown_1.renderSeveral)(reports, bodyOptions(run)),
        full: (0, markdown_1.renderSeveral)(reports, { limit: markdown_1.SUMMARY_LIMIT }),
        json,
        changed,
        lists,
        push: pushOf(reports.map(r => r.push))
    });
}
/** The outputs that say what publishing did. */
function writePublishOutputs(run, p) {
    return writeOutputs(run, {
        branch: p.branch,
        commit: p.commit ?? '',
        'pr-number': p.prNumber === undefined ? '' : String(p.prNumber),
        'pr-url': p.prUrl ?? '',
        'pr-operation': p.operation
    });
}


/***/ }),

/***/ 7110:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.prepare = prepare;
exports.openCache = openCache;
exports.discoverHosts = discoverHosts;
exports.evalPool = evalPool;
exports.readFleet = readFleet;
exports.buildTarget = buildTarget;
exports.buildFleet = buildFleet;
exports.guardLock = guardLock;
exports.updateFlakeLock = updateFlakeLock;
exports.compareSides = compareSides;
exports.pushToCache = pushToCache;
exports.publishUpdate = publishUpdate;
exports.holdBackBreakingInputs = holdBackBreakingInputs;
exports.proposedUpdate = proposedUpdate;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const exec_1 = __nccwpck_require__(3190);
const git_1 = __nccwpck_require__(308);
const connect_1 = __nccwpck_require__(397);
const fleet_state_1 = __nccwpck_require__(9087);
const http_1 = __nccwpck_require__(2847);
const evalpool_1 = __nccwpck_require__(6879);
const nix_1 = __nccwpck_require__(4280);
const stderr_1 = __nccwpck_require__(4923);
const memory_1 = __nccwpck_require__(8820);
const cleanup_1 = __nccwpck_require__(5072);
const build_1 = __nccwpck_require__(1806);
const checkout_1 = __nccwpck_require__(6292);
const discover_1 = __nccwpck_require__(5803);
const diff_1 = __nccwpck_require__(7855);
const preflight_1 = __nccwpck_require__(8489);
const publish_1 = __nccwpck_require__(597);
const push_1 = __nccwpck_require__(4912);
const update_1 = __nccwpck_require__(1833);
const hold_back_1 = __nccwpck_require__(6997);
const assemble_1 = __nccwpck_require__(2424);
const model_1 = __nccwpck_require__(6867);
const nvd_1 = __nccwpck_require__(3562);
const words_1 = __nccwpck_require__(2691);
const redact_1 = __nccwpck_require__(6670);
const signing_1 = __nccwpck_require__(7856);
const openpgp_1 = __nccwpck_require__(8184);
const results_1 = __nccwpck_require__(9507);
/**
 * Everything publishing needs is checked before the first build, not found missing after it; then Nix and the
 * checkout (flake.lock read from the checked-out commit, a checkout whose flake files differ from it refused).
 */
async function prepare(run) {
    const { settings, log } = run;
    let target;
    if (!settings.dryRun) {
        target = await (0, preflight_1.preflightPublish)(settings, run.env, { scratchDir: run.workDir, checkSigningKey: signing_1.checkSigningKey, log });
    }
    else if (settings.signingKey) {
        // A dry run rehearses the real one: a key that cannot sign fails it too, before anything is built.
        await (0, signing_1.checkSigningKey)(settings.signingKey, run.workDir, settings.signingKeyPassphrase);
    }
    const nix = await nix_1.Nix.create(settings.nixArgs, log);
    log.info(`Using ${nix.version.text}; ${(0, words_1.plural)(settings.flakeDirs.length, 'flake')}: ${settings.flakeDirs.join(', ')}`);
    const checkout = await (0, checkout_1.inspectCheckout)(settings.flakeDir);
    if (target && checkout.git && checkout.head) {
        await (0, publish_1.checkCheckoutOnBase)(checkout.git, checkout.head, settings, log);
    }
    return { nix, checkout, target };
}
/** Lets the builds fetch from the binary cache, when it can be opened: an unreachable ssh store would fail them. */
async function openCache(run, nix, push) {
    await run.phase('Open the binary cache', async () => {
        const problem = await nix.storeProblem(push.url);
        if (problem) {
            run.log.warning(`The builds do not fetch from ${(0, redact_1.redactUrl)(push.url)}: it cannot be opened: ${(0, redact_1.scrub)(problem, push.url)}`);
        }
        else {
            nix.substituter = { url: push.url, publicKey: push.publicKey };
            run.log.info(`The builds also fetch from ${(0, redact_1.redactUrl)(push.url)}, trusting ${push.publicKey}`);
        }
    });
}
/** The hosts this run builds; `names`: the configurations output's names, when they were already read. */
async function discoverHosts(run, nix, names) {
    const { settings } = run;
    return run.phase('Discover hosts', async () => {
        const d = await (0, discover_1.discover)(nix, settings.flakeDir, settings.hosts, settings.excludeHosts, settings.excludeHostsSource, settings.configurations, names);
        run.log.info(`Hosts: ${d.hosts.join(', ')}${d.excluded.length ? ` (excluded: ${d.excluded.join(', ')})` : ''}`);
        return d;
    }, {
        outcome: d => `${(0, words_1.plural)(d.hosts.length, 'host')}${d.excluded.length ? `, ${d.excluded.length} excluded` : ''}`
    });
}
/** The evaluation pool for this machine and fleet, as the settings tune it. */
function evalPool(run, hosts) {
    const pool = (0, evalpool_1.poolOptions)(run.settings, hosts, (0, evalpool_1.localMachine)());
    run.log.info(`Evaluation: up to ${pool.workers} processes at once, memory budget ${Math.floor(pool.budget / memory_1.MiB)} MiB (${Math.floor(pool.budget / pool.workers / memory_1.MiB)} MiB each), ${pool.chunkSize ?? 'automatic'} hosts per process`);
    return pool;
}
/**
 * What the hosts last reported (commit statuses of the base branch's recent commits). Read-only and best effort:
 * without a token it is not read, without a repository it is skipped, and a forge error is a warning.
 */
async function readFleet(run, hosts) {
    const { settings, log } = run;
    if (!settings.token)
        return undefined;
    return run.phase('Read the fleet state', async () => {
        let endpoints;
        try {
            endpoints = (0, connect_1.forgeEndpoints)(settings, run.env);
        }
        catch (e) {
            log.info(`Fleet state not read: ${(0, errors_1.errorMessage)(e)}`);
            return undefined;
        }
        try {
            const api = new http_1.ApiClient(endpoints.apiUrl, settings.token, { attempts: 2, timeoutMs: 15000 });
            const state = await (0, fleet_state_1.readFleetState)(api, settings.forge, { owner: endpoints.owner, repo: endpoints.repo, base: settings.baseBranch }, hosts, settings.staleAfterMs, new Date());
            log.info(`Fleet state: ${state.hosts.length} hosts reported on the last ${state.commits.length} commits of ${settings.baseBranch}` +
                (state.neverReported.length ? `; never reported: ${state.neverReported.join(', ')}` : ''));
            return state;
        }
        catch (e) {
            log.warning(`Fleet state not read (the report goes on without it): ${(0, errors_1.errorMessage)(e)}`);
            return undefined;
        }
    });
}
function buildOutcome(b) {
    const hosts = [...b.hosts.values()];
    const elsewhere = hosts.filter(h => h.status === 'not-buildable').length;
    const failed = hosts.filter(h => h.status !== 'built' && h.status !== 'not-buildable').length;
    return `${hosts.length - failed - elsewhere} built${failed > 0 ? `, ${failed} failed` : ''}${elsewhere > 0 ? `, ${elsewhere} not buildable here` : ''}`;
}
/**
 * What the builds build: the configured output's entries, each on a platform this machine or one of its remote
 * builders builds. When Nix cannot say which platforms those are, every entry is built, as before.
 */
async function buildTarget(run, nix) {
    const platforms = await nix.platforms();
    if (!platforms) {
        run.log.info('Could not read the platforms this Nix builds for: every entry is built');
    }
    return { set: run.settings.configurations, platforms };
}
function logEvaluation(run, build) {
    const e = build.evaluation;
    const peak = Math.max(0, ...e.processes.map(x => x.peakRss));
    const killed = e.processes.filter(x => x.overLimit).length;
    run.log.info(`Evaluated ${build.hosts.size} hosts: ${e.processes.length} processes, ${e.seconds.toFixed(1)} s, largest ${Math.round(peak / memory_1.MiB)} MiB${killed ? `, ${killed} killed over their memory limit` : ''}`);
    if (e.plan !== undefined) {
        const rest = e.plan === 'single' ? 'one process for the rest' : 'the pool for the rest';
        run.log.info(e.probe
            ? `Evaluation plan: the probe measured ${e.probe.map(p => `${(0, words_1.plural)(p.hosts, 'host')} at ${Math.round(p.peak / memory_1.MiB)} MiB`).join(' and ')}: ${e.plan === 'single' ? 'light hosts' : 'heavy hosts'}, ${rest}`
            : `Evaluation plan: as the evaluation before, ${e.plan === 'single' ? 'one process' : `the pool from ${e.options.start?.plan === 'pool' ? e.options.start.chunkSize : 1} hosts per process`}`);
    }
    // A process that died had its hosts evaluated again: say why it died, since nothing else will.
    for (const p of e.processes.filter(x => x.overLimit || x.exitCode > 128)) {
        run.log.info(`An evaluation process of ${p.hosts.length} hosts (${p.hosts.slice(0, 3).join(', ')}${p.hosts.length > 3 ? ', …' : ''}) ${p.overLimit ? `went over ${Math.round(p.limit / memory_1.MiB)} MiB and was killed` : `ended with exit code ${p.exitCode}`} after ${p.seconds.toFixed(1)} s, at ${Math.round(p.peakRss / memory_1.MiB)} MiB${p.stderr.trim() ? `; it said: ${(0, exec_1.tail)((0, stderr_1.stripWarnings)(p.stderr), 3)}` : ''}`);
    }
}
/** Builds the hosts of the flake in `flakeDir` as a phase named `name`; GC roots under the work directory. */
async function buildFleet(run, nix, hosts, side, pool) {
    const roots = path.join(run.workDir, 'gcroots');
    if (!fs.existsSync(roots))
        run.cleanup.push(() => fs.rmSync(roots, { recursive: true, force: true }));
    return run.phase(side.name, async () => {
        const b = await (0, build_1.buildHosts)(nix, side.flakeDir ?? run.settings.flakeDir, hosts, path.join(roots, side.roots), pool, { target: await buildTarget(run, nix) });
        for (const h of [...b.hosts.values()].filter(x => x.status === 'not-buildable')) {
            run.log.info(`${h.host}: evaluated only, no builder here for ${h.system ?? 'its platform'}`);
        }
        logEvaluation(run, b);
        return b;
    }, { hosts: hosts.length, outcome: buildOutcome });
}
/**
 * Keeps flake.lock as it is now: a signal from here on puts it back (and the post step, if the step is killed
 * outright). Nix stages a lock file it creates: where the index had none, the entry goes with the file.
 */
function guardLock(run, checkout) {
    const flake = run.settings.flakeDir;
    try {
        const savedLock = (0, cleanup_1.saveLock)(path.join(flake, 'flake.lock'), run.workDir, run.log);
        run.cleanup.push(() => savedLock.discard());
        run.onStop.push(() => savedLock.restore());
    }
    catch (e) {
        // A full RUNNER_TEMP must not cost the run: the lock of the checked-out commit is still known here.
        run.log.warning(`Could not keep a copy of flake.lock in ${run.workDir} for the post step (${(0, errors_1.errorMessage)(e)}): a stopped step puts it back, one killed outright cannot`);
        run.onStop.push(() => (0, update_1.restoreLock)(flake, checkout.oldLock ?? ''));
    }
    const { git, lockInIndex } = checkout;
    if (git && !lockInIndex)
        run.onStop.push(() => git.unstageSync('flake.lock'));
}
/** `nix flake update` of the inputs asked for; a dry run puts the lock back when the run ends. */
async function updateFlakeLock(run, nix, checkout) {
    const { settings, log } = run;
    const update = await run.phase('Update flake.lock', () => (0, update_1.updateLock)(nix, settings.flakeDir, settings.updateInputs, checkout.oldLock, settings.flakeDirs.length > 1), {
        outcome: u => u.created
            ? 'lock file created'
            : u.changed
                ? `${(0, words_1.plural)(u.updatedInputs.length, 'input')} updated`
                : 'up to date'
    });
    if (update.changed && settings.dryRun) {
        const index = checkout.git ? { git: checkout.git, hadEntry: checkout.lockInIndex } : undefined;
        run.cleanup.push(() => (0, update_1.restoreLock)(settings.flakeDir, update.oldLock, index));
    }
    log.info(update.created
        ? `flake.lock created: ${update.updatedInputs.join(', ') || 'no inputs'}`
        : update.changed
            ? `Updated inputs: ${update.updatedInputs.join(', ') || '(lock file rewritten)'}`
            : 'flake.lock is up to date');
    return update;
}
/** Diffs the closures of the hosts that built on both sides; one annotation per new evaluation warning. */
async function compareSides(run, nix, hosts, before, after) {
    const pairs = (0, assemble_1.builtPairs)(hosts, before, after);
    const diffs = await run.phase('Diff closures', () => (0, diff_1.diffHosts)(nix, pairs, run.settings.configurations), {
        hosts: pairs.length
    });
    const reports = (0, assemble_1.hostReports)(hosts, before, after, diffs);
    const pending = await (0, diff_1.pendingHosts)(nix, (0, assemble_1.unbuiltAfter)(reports));
    for (const w of (0, model_1.warningChanges)(reports).new) {
        run.log.warning(w.text, { title: `New evaluation warning after the update (${w.hosts.join(', ')})` });
    }
    return { diffs, pending };
}
function logPush(run, p) {
    const sent = `${(0, words_1.plural)(p.paths, 'new path')} (${(0, nvd_1.formatBytes)(p.bytes)})`;
    if (p.status === 'pushed') {
        run.log.info(`Pushed ${sent} to ${p.to}; the ${p.hosts.length} systems' closures hold ${p.closurePaths} paths, the rest were there`);
    }
    else if (p.status === 'failed') {
        run.log.warning(`Pushing the new systems to ${p.to} failed (${sent} started): ${p.error ?? 'unknown error'}`);
    }
    else {
        run.log.info(`Nothing pushed to ${p.to}: ${p.error ?? 'nothing to push'}`);
    }
}
/** Copies the hosts' new systems to the binary cache, signed with the push key. */
async function pushToCache(run, nix, push, hosts, after) {
    const keyFile = run.secretFile(push.key.secret);
    const report = await run.phase('Push to the binary cache', () => (0, push_1.pushSystems)(nix, { url: push.url, keyFile }, (0, assemble_1.builtSystems)(hosts, after)));
    logPush(run, report);
    return report;
}
/** Commits the new locks (one commit) on the update branch and opens or updates its pull request. */
async function publishUpdate(run, target, locks, body, failures) {
    const { settings, log } = run;
    // OpenPGP: a keyring of its own in the work directory (removed with it, also by the post step).
    const openPgp = settings.signingKey && (0, openpgp_1.isOpenPgpKey)(settings.signingKey)
        ? await (0, openpgp_1.openPgpHome)(settings.signingKey, settings.signingKeyPassphrase, path.join(run.workDir, 'gnupg'))
        : undefined;
    if (openPgp)
        run.cleanup.push(() => openPgp.closeSync());
    const keyFile = settings.signingKey && !openPgp ? run.secretFile(settings.signingKey) : undefined;
    const published = await run.phase('Publish', async () => {
        try {
            return await (0, publish_1.publish)(await git_1.Git.create(settings.flakeDir), target.forge, {
                settings,
                locks,
                body,
                signingKeyFile: keyFile,
                openPgp,
                scratchDir: run.workDir,
                log
            });
        }
        catch (e) {
            // The branch may be pushed (and the pull request open) although a later forge call failed.
            if (e instanceof publish_1.PublishError)
                failures.push(...(0, results_1.writePublishOutputs)(run, e.result));
            throw e;
        }
    }, { outcome: p => (p.prUrl ? `pull request ${p.operation}: ${p.prUrl}` : 'no pull request') });
    failures.push(...(0, results_1.writePublishOutputs)(run, published));
    log.info(published.prUrl
        ? `Pull request #${published.prNumber} ${published.operation}: ${published.prUrl}`
        : 'No pull request was opened');
    return published;
}
/**
 * When hosts regress: names the inputs that break them (each changed input held back in turn) and, with
 * `hold-back: regressing`, builds every host with the lock that updates all the others. undefined when no host
 * regressed. The result's `proposed` builds replace the "after" builds: the report shows what the pull request
 * proposes.
 */
async function holdBackBreakingInputs(run, nix, hosts, before, after, update, pool) {
    const regressed = hosts.filter(h => before.hosts.get(h)?.status === 'built' && after.hosts.get(h)?.status !== 'built');
    if (regressed.length === 0)
        return undefined;
    return run.phase('Find the inputs that break hosts', () => (0, hold_back_1.attributeAndHoldBack)({
        nix,
        flake: run.settings.flakeDir,
        hosts,
        regressed,
        after,
        oldLock: update.oldLock,
        newLock: update.newLock,
        changes: update.changes,
        settings: run.settings.attribution,
        pool,
        rootsDir: path.join(run.workDir, 'gcroots'),
        scratchDir: run.workDir,
        log: run.log
    }), {
        hosts: regressed.length,
        outcome: h => (h ? `${(0, words_1.plural)(h.inputs.length, 'input')} found` : 'nothing to search')
    });
}
/** The update the pull request proposes: the whole one, or the one that holds the breaking inputs back. */
function proposedUpdate(update, held) {
    if (!held?.proposedLock || !held.proposedChanges)
        return update;
    return {
        ...update,
        newLock: held.proposedLock,
        changes: held.proposedChanges,
        updatedInputs: held.proposedChanges.map(c => c.input)
    };
}


/***/ }),

/***/ 1953:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.NO_RUNNER = void 0;
exports.runnerContext = runnerContext;
const context_1 = __nccwpck_require__(1648);
/** The runner's context; the command line has none (it passes its own). */
function runnerContext() {
    // Read anew at each call: the runner's variables are those of this step.
    const c = new context_1.Context();
    const repo = c.payload.repository;
    return {
        eventName: c.eventName ?? '',
        payload: c.payload,
        defaultBranch: typeof repo?.default_branch === 'string' ? repo.default_branch : undefined
    };
}
/** The context of a run outside a runner: no event. */
exports.NO_RUNNER = { eventName: '', payload: {} };


/***/ }),

/***/ 8750:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.InputError = void 0;
exports.flakeEntries = flakeEntries;
exports.parseFlakeDirs = parseFlakeDirs;
exports.getSettings = getSettings;
const fs = __importStar(__nccwpck_require__(9896));
const path = __importStar(__nccwpck_require__(6928));
const cache_1 = __nccwpck_require__(3781);
const redact_1 = __nccwpck_require__(6670);
const kind_1 = __nccwpck_require__(2417);
const errors_1 = __nccwpck_require__(3916);
const refname_1 = __nccwpck_require__(1202);
const args_1 = __nccwpck_require__(6854);
const signing_1 = __nccwpck_require__(7856);
const mode_1 = __nccwpck_require__(3805);
const input_selection_1 = __nccwpck_require__(3345);
const people_1 = __nccwpck_require__(4235);
const api_commit_1 = __nccwpck_require__(9822);
const openpgp_1 = __nccwpck_require__(8184);
const source_1 = __nccwpck_require__(4620);
const parse_1 = __nccwpck_require__(3718);
const settings_1 = __nccwpck_require__(8908);
const attribution_settings_1 = __nccwpck_require__(7662);
var errors_2 = __nccwpck_require__(3916);
Object.defineProperty(exports, "InputError", ({ enumerable: true, get: function () { return errors_2.InputError; } }));
/** Input `flake`'s entries as written: one a line, or comma-separated; `.` when it names none. */
function flakeEntries(value) {
    const entries = value
        .split(/[\n,]+/)
        .map(s => s.trim())
        .filter(s => s !== '');
    return entries.length > 0 ? entries : ['.'];
}
/**
 * Input `flake`: one directory of the checkout, or several (one a line, or comma-separated), each inside the
 * workspace and holding a flake.nix; the same directory twice is refused.
 */
function parseFlakeDirs(value, workspace) {
    const dirs = [];
    for (const entry of flakeEntries(value)) {
        if (/^[a-z+]+:/.test(entry) && !entry.startsWith('path:')) {
            throw new errors_1.InputError(`Input 'flake' must name directories of the checkout (they hold the flake.lock to update), got ${JSON.stringify(entry)}`);
        }
        const dir = path.resolve(workspace, entry.replace(/^path:/, ''));
        const rel = path.relative(workspace, dir);
        if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
            throw new errors_1.InputError(`Input 'flake' must be inside the workspace ${workspace}, got ${JSON.stringify(entry)}`);
        }
        if (!fs.existsSync(path.join(dir, 'flake.nix'))) {
            throw new errors_1.InputError(`Input 'flake': no flake.nix in ${dir}`);
        }
        if (dirs.includes(dir))
            throw new errors_1.InputError(`Input 'flake' names ${dir} twice`);
        dirs.push(dir);
    }
    return dirs;
}
function defaultBaseBranch(e) {
    if (e.defaultBranch)
        return e.defaultBranch;
    const refName = e.env.GITHUB_REF_NAME;
    if (refName && e.env.GITHUB_REF?.startsWith('refs/heads/'))
        return refName;
    if (e.env.GITHUB_REF?.startsWith('refs/heads/'))
        return e.env.GITHUB_REF.slice('refs/heads/'.length);
    return 'main';
}
/** Nix store URLs: `scheme://…` (file, s3, https, ssh, ssh-ng, …) or an absolute path (a local store). */
const STORE_URL = /^([a-z][a-z0-9+.-]*:\/\/[^\s]+|\/[^\s]*)$/i;
/** push-to, push-signing-key, push-public-key and push-required; undefined when push-to is empty. */
function getPushSettings(input, log) {
    const url = input('push-to');
    const secret = input('push-signing-key');
    if (secret !== '')
        log.mask(secret);
    const publicInput = input('push-public-key');
    const required = (0, parse_1.parseBoolean)(input, 'push-required');
    if (url === '') {
        if (secret !== '' || publicInput !== '' || required)
            throw new errors_1.InputError("Inputs 'push-signing-key', 'push-public-key' and 'push-required' need 'push-to'");
        return undefined;
    }
    for (const s of (0, redact_1.urlSecrets)(url))
        log.mask(s);
    if (!STORE_URL.test(url)) {
        throw new errors_1.InputError(`Input 'push-to' must be a Nix store URL (file:///…, s3://…, ssh-ng://…, https://…) or an absolute path, got ${JSON.stringify((0, redact_1.redactUrl)(url))}`);
    }
    if (/[?&]secret-key=/.test(url)) {
        throw new errors_1.InputError("Input 'push-to' must not carry secret-key=: pass the key itself in 'push-signing-key' (from a secret)");
    }
    if (secret === '') {
        throw new errors_1.InputError("Input 'push-signing-key' is required with 'push-to': hosts accept only signed paths from a binary cache");
    }
    let key;
    try {
        key = (0, cache_1.parseSigningKey)(secret);
    }
    catch (e) {
        throw new errors_1.InputError(e.message);
    }
    let publicKey = key.publicKey;
    if (publicInput !== '') {
        let keys;
        try {
            keys = (0, parse_1.parseList)(publicInput).map(k => (0, cache_1.checkPublicKey)(k));
        }
        catch (e) {
            throw new errors_1.InputError(e.message);
        }
        if (!keys.includes(key.publicKey)) {
            throw new errors_1.InputError(`Input 'push-public-key' (${keys.join(' ')}) does not hold the public key of 'push-signing-key' (${key.publicKey}): paths this run pushes would not verify against it`);
        }
        publicKey = keys.join(' ');
    }
    return { url, key, publicKey, required };
}
/** `commit-via-api`, checked against the forge and `signing-key`. */
function checkedCommitViaApi(value, forge, signingKey) {
    (0, api_commit_1.checkCommitViaApi)(value, forge, signingKey);
    return value;
}
/** Reads every input, validates it and returns the settings; the only place that reads inputs. */
function getSettings(e) {
    const workspace = path.resolve(e.env.GITHUB_WORKSPACE || process.cwd());
    const date = e.now.toISOString().slice(0, 10);
    const source = e.inputs ?? (0, source_1.environmentInputs)(e.env);
    if (!e.inputs)
        for (const warning of (0, source_1.misspelledInputVariables)(e.env))
            e.log.warning(warning);
    // An input that was not given at all takes action.yml's default, as a runner would apply it.
    const input = (name) => (source(name) ?? (0, source_1.inputDefault)(name)).trim();
    // Inputs that cannot be empty: an empty value means the default.
    const orDefault = (name) => input(name) || (0, source_1.inputDefault)(name);
    const token = input('token');
    if (token)
        e.log.mask(token);
    const passphrase = input('signing-key-passphrase');
    if (passphrase)
        e.log.mask(passphrase);
    const signingKeyRaw = input('signing-key');
    let signingKey = '';
    if (signingKeyRaw !== '') {
        e.log.mask(signingKeyRaw);
        for (const line of signingKeyRaw.split(/\r?\n/))
            if (line.trim().length > 8)
                e.log.mask(line.trim());
        signingKey = (0, openpgp_1.isOpenPgpKey)(signingKeyRaw)
            ? signingKeyRaw.replace(/\r\n?/g, '\n').trim()
            : (0, signing_1.normaliseSigningKey)(signingKeyRaw);
        for (const line of signingKey.split('\n'))
            if (line.length > 8)
                e.log.mask(line);
    }
    const flakeDirs = parseFlakeDirs(orDefault('flake'), workspace);
    const hosts = (0, parse_1.parseList)(input('hosts'));
    const excludeHostsSource = input('exclude-hosts');
    const excludeHosts = (0, parse_1.compileHostPattern)(excludeHostsSource === '' ? '(?!)' : excludeHostsSource);
    const updateInputs = (0, input_selection_1.parseUpdateInputs)(input('update-inputs'));
    const baseBranch = input('base-branch') || defaultBaseBranch(e);
    const baseProblem = (0, refname_1.refNameProblem)(baseBranch);
    if (baseProblem) {
        throw new errors_1.InputError(`Input 'base-branch' is not a usable branch name (${baseProblem}): ${JSON.stringify(baseBranch)}`);
    }
    const branch = (0, parse_1.expandDate)(orDefault('branch'), date);
    (0, parse_1.validateBranch)(branch, baseBranch);
    const apiUrlRaw = input('api-url');
    let apiUrl;
    if (apiUrlRaw !== '') {
        let parsed;
        try {
            parsed = new URL(apiUrlRaw);
        }
        catch {
            throw new errors_1.InputError(`Input 'api-url' is not a URL: ${JSON.stringify((0, redact_1.redactUrl)(apiUrlRaw))}`);
        }
        if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
            throw new errors_1.InputError(`Input 'api-url' must be an http(s) URL, got ${JSON.stringify((0, redact_1.redactUrl)(apiUrlRaw))}`);
        }
        if (parsed.username || parsed.password) {
            throw new errors_1.InputError("Input 'api-url' must not carry credentials: pass them in 'token'");
        }
        apiUrl = apiUrlRaw.replace(/\/+$/, '');
    }
    const forgeRaw = orDefault('forge').toLowerCase();
    let forge;
    if (forgeRaw === 'auto')
        forge = (0, kind_1.detectForge)(e.env);
    else if (forgeRaw === 'github')
        forge = 'github';
    else if (forgeRaw === 'forgejo' || forgeRaw === 'gitea')
        forge = 'forgejo';
    else
        throw new errors_1.InputError(`Input 'forge' must be auto, github or forgejo, got ${JSON.stringify(forgeRaw)}`);
    const gitUserName = orDefault('git-user-name');
    if (/[<>\n]/.test(gitUserName))
        throw new errors_1.InputError("Input 'git-user-name' must not contain <, > or a newline");
    const gitUserEmail = orDefault('git-user-email');
    if (!/^[^\s<>@]+@[^\s<>@]+$/.test(gitUserEmail)) {
        throw new errors_1.InputError(`Input 'git-user-email' is not an e-mail address: ${JSON.stringify(gitUserEmail)}`);
    }
    const mergeMethod = (0, parse_1.parseMergeMethod)(input('merge-method'), forge);
    const commitMessage = (0, parse_1.expandDate)(orDefault('commit-message'), date);
    const prTitle = (0, parse_1.expandDate)(orDefault('pr-title'), date);
    if (prTitle.includes('\n'))
        throw new errors_1.InputError("Input 'pr-title' must be one line");
    const staleAfterText = input('stale-after').trim();
    const staleAfterMs = (0, parse_1.parseDuration)(staleAfterText);
    if (staleAfterMs === undefined) {
        throw new errors_1.InputError(`Input 'stale-after' must be a duration such as 2d, 36h or 90m, got ${JSON.stringify(staleAfterText)}`);
    }
    return {
        flakeDir: flakeDirs[0],
        flakeDirs,
        configurations: (0, parse_1.parseConfigurations)(input('configurations')),
        hosts,
        excludeHosts,
        excludeHostsSource,
        updateInputs,
        baseBranch,
        branch,
        apiUrl,
        token,
        forge,
        signingKey: signingKey || undefined,
        signingKeyPassphrase: (0, openpgp_1.checkSigningKeyPassphrase)(passphrase, signingKey || undefined),
        gitUserName,
        gitUserEmail,
        commitMessage,
        prTitle,
        prLabels: input('pr-labels')
            .split(/[,\n]+/)
            .map(s => s.trim())
            .filter(Boolean),
        prReviewers: (0, people_1.parsePeople)(input('pr-reviewers'), 'pr-reviewers'),
        prAssignees: (0, people_1.parsePeople)(input('pr-assignees'), 'pr-assignees'),
        commitViaApi: checkedCommitViaApi((0, parse_1.parseBoolean)(input, 'commit-via-api'), forge, signingKey || undefined),
        autoMerge: (0, parse_1.parseBoolean)(input, 'auto-merge'),
        mergeMethod,
        build: (0, parse_1.parseBoolean)(input, 'build'),
        nixArgs: (0, args_1.maskNixSecrets)((0, args_1.splitArgs)(input('nix-args')), secret => e.log.mask(secret)),
        evalMemory: (0, parse_1.parseCount)(input, 'eval-memory', 64, ' of MiB'),
        evalWorkers: (0, parse_1.parseCount)(input, 'eval-workers', 1),
        evalChunkSize: (0, parse_1.parseCount)(input, 'eval-chunk-size', 1),
        failOnRegression: (0, parse_1.parseBoolean)(input, 'fail-on-regression'),
        dryRun: (0, parse_1.parseBoolean)(input, 'dry-run'),
        staleAfterMs,
        date,
        push: getPushSettings(input, e.log),
        modes: (0, mode_1.parseModeSettings)(input('mode'), input('review-base'), input('review-head')),
        rollout: (0, settings_1.parseRolloutSettings)({ soak: input('rollout-soak'), requireAll: input('rollout-require-all') }),
        attribution: (0, attribution_settings_1.parseAttributionSettings)({
            'attribution-max-builds': orDefault('attribution-max-builds'),
            'hold-back': orDefault('hold-back'),
            bisect: orDefault('bisect'),
            'bisect-max-builds': orDefault('bisect-max-builds')
        })
    };
}


/***/ }),

/***/ 7856:
/***/ (function(__unused_webpack_module, exports, __nccwpck_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.normaliseSigningKey = normaliseSigningKey;
exports.signingKeyProblem = signingKeyProblem;
exports.checkSigningKey = checkSigningKey;
exports.keygenProblem = keygenProblem;
const io = __importStar(__nccwpck_require__(4994));
const fs = __importStar(__nccwpck_require__(9896));
const os = __importStar(__nccwpck_require__(857));
const path = __importStar(__nccwpck_require__(6928));
const errors_1 = __nccwpck_require__(3916);
const exec_1 = __nccwpck_require__(3190);
const openpgp_1 = __nccwpck_require__(8184);
const INPUT = "Input 'signing-key'";
const PUBLIC_KEY_LINE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9-]+@openssh\.com)\s+AAAA/;
const ARMOR = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;
/**
 * The key as ssh-keygen reads it: LF line endings (a web form's CRLF breaks OpenSSH's parser), and the armor's
 * body on lines of its own where a form collapsed them into one line or into literal `\n`. Throws an InputError
 * naming what was pasted when the text cannot be a private key.
 */
function normaliseSigningKey(raw) {
    let text = raw.replace(/\r\n?/g, '\n').trim();
    if (!text.includes('\n') && text.includes('\\n'))
        text = text.split('\\n').join('\n').trim();
    const problem = signingKeyProblem(text);
    if (problem)
        throw new errors_1.InputError(`${INPUT} ${problem}`);
    const m = ARMOR.exec(text);
    // Headers such as `Proc-Type:` (encrypted PEM keys) keep their lines; every other word of the body is a
    // base64 line: a form that turned newlines into spaces gives the same words.
    const lines = m[2].split('\n').map(l => l.trim());
    const headers = lines.filter(l => /^[A-Za-z-]+:/.test(l));
    const body = lines
        .filter(l => !/^[A-Za-z-]+:/.test(l))
        .join(' ')
        .split(/\s+/)
        .filter(Boolean);
    const blank = headers.length > 0 ? [''] : [];
    return [`-----BEGIN ${m[1]}-----`, ...headers, ...blank, ...body, `-----END ${m[1]}-----`].join('\n');
}
/** What is wrong with a text that should be an SSH private key, judged from its shape; undefined when nothing is. */
function signingKeyProblem(text) {
    const t = text.trim();
    if (PUBLIC_KEY_LINE.test(t) || /-----BEGIN (SSH2 |RSA |)PUBLIC KEY-----/.test(t)) {
        return 'holds a public key: signing needs the private key (the file without .pub, -----BEGIN OPENSSH PRIVATE KEY-----)';
    }
    if (/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(t)) {
        return 'holds a PGP public key: signing needs the secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----, gpg --armor --export-secret-keys)';
    }
    const begin = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(t);
    if (!begin)
        return 'is not an SSH private key: it must start with -----BEGIN OPENSSH PRIVATE KEY-----';
    if (!t.includes(`-----END ${begin[1]}-----`)) {
        return `is cut short: it has -----BEGIN ${begin[1]}----- but no -----END ${begin[1]}----- line`;
    }
    return undefined;
}
/**
 * Checks that the signing key can sign without anyone typing anything: normalises it, then asks ssh-keygen for
 * its public key. Throws an InputError saying which case it is (passphrase, damaged, public key, …). Meant to run
 * before anything is built; `scratchDir` is where the key is written for ssh-keygen (removed again).
 */
async function checkSigningKey(raw, scratchDir, passphrase = '') {
    if ((0, openpgp_1.isOpenPgpKey)(raw)) {
        // Imported into a keyring of its own in the scratch directory and signed with once; removed again.
        const dir = fs.mkdtempSync(path.join(scratchDir ?? os.tmpdir(), 'nixos-fleet-update-keycheck-'));
        try {
            const ring = await (0, openpgp_1.openPgpHome)(raw, passphrase, path.join(dir, 'gnupg'));
            await ring.close();
            return { key: raw, publicKey: ring.signingKey };
        }
        finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
    const key = normaliseSigningKey(raw);
    const sshKeygen = await io.which('ssh-keygen', false);
    if (!sshKeygen) {
        throw new Error(`${INPUT} is set, and signing needs ssh-keygen (OpenSSH) on PATH: install openssh-client before this step`);
    }
    const dir = fs.mkdtempSync(path.join(scratchDir ?? os.tmpdir(), 'nixos-fleet-update-keycheck-'));
    try {
        fs.chmodSync(dir, 0o700);
        const file = path.join(dir, 'key');
        // OpenSSH needs the END line terminated.
        fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
        // -P '' : an encrypted key fails instead of waiting for a passphrase.
        const r = await (0, exec_1.runProcess)(sshKeygen, ['-y', '-P', '', '-f', file]);
        if (r.exitCode === 0 && r.stdout.trim() !== '')
            return { key, publicKey: r.stdout.trim() };
        throw new errors_1.InputError(`${INPUT} ${keygenProblem(r.stderr.split(file).join('the key'))}`);
    }
    finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
/** ssh-keygen's complaint about a private key, as a sentence that says what to do. */
function keygenProblem(stderr) {
    const said = stderr.trim().split('\n').slice(-1)[0] ?? '';
    if (/incorrect passphrase|passphrase/i.test(said)) {
        return "is protected by a passphrase, which nobody can type in CI: store a copy without one (ssh-keygen -p -N '' -f KEY)";
    }
    if (/libcrypto|invalid format|not a key|unsupported|error in/i.test(said)) {
        return `cannot be read by ssh-keygen: the key is damaged (lines lost or changed when it was pasted?) or of a kind OpenSSH does not know (ssh-keygen: ${said})`;
    }
    return `was refused by ssh-keygen: ${said || 'no message'}`;
}


/***/ }),

/***/ 2462:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.STATE = void 0;
exports.isPostStep = isPostStep;
exports.markMainStep = markMainStep;
/**
 * What the main step hands to the `post:` step (the runner passes it as STATE_* variables). One bundle serves
 * both steps: the post step is the run that finds `isPost` saved (as actions/checkout does).
 */
exports.STATE = {
    /** Set by the main step as it starts, so the same bundle knows it runs as the post step. */
    isPost: 'isPost',
    /** Directories (work directory, key files) that the post step removes. */
    cleanupDirs: 'cleanup-dirs',
    /** A copy of flake.lock from before the update, that the post step puts back if it is still there. */
    savedLock: 'saved-lock'
};
/** True when this run of the bundle is the `post:` step. */
function isPostStep(log) {
    return log.getState(exports.STATE.isPost) === 'true';
}
/** Marks the main step as started: the bundle's next run in this job is the post step. */
function markMainStep(log) {
    log.saveState(exports.STATE.isPost, 'true');
}


/***/ }),

/***/ 2613:
/***/ ((module) => {

module.exports = require("assert");

/***/ }),

/***/ 5317:
/***/ ((module) => {

module.exports = require("child_process");

/***/ }),

/***/ 6982:
/***/ ((module) => {

module.exports = require("crypto");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = require("events");

/***/ }),

/***/ 9896:
/***/ ((module) => {

module.exports = require("fs");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = require("os");

/***/ }),

/***/ 6928:
/***/ ((module) => {

module.exports = require("path");

/***/ }),

/***/ 3193:
/***/ ((module) => {

module.exports = require("string_decoder");

/***/ }),

/***/ 3557:
/***/ ((module) => {

module.exports = require("timers");

/***/ })

/******/ 	});
/************************************************************************/
/******/ 	// The module cache
/******/ 	var __webpack_module_cache__ = {};
/******/ 	
/******/ 	// The require function
/******/ 	function __nccwpck_require__(moduleId) {
/******/ 		// Check if module is in cache
/******/ 		var cachedModule = __webpack_module_cache__[moduleId];
/******/ 		if (cachedModule !== undefined) {
/******/ 			return cachedModule.exports;
/******/ 		}
/******/ 		// Create a new module (and put it into the cache)
/******/ 		var module = __webpack_module_cache__[moduleId] = {
/******/ 			// no module.id needed
/******/ 			// no module.loaded needed
/******/ 			exports: {}
/******/ 		};
/******/ 	
/******/ 		// Execute the module function
/******/ 		var threw = true;
/******/ 		try {
/******/ 			__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 			threw = false;
/******/ 		} finally {
/******/ 			if(threw) delete __webpack_module_cache__[moduleId];
/******/ 		}
/******/ 	
/******/ 		// Return the exports of the module
/******/ 		return module.exports;
/******/ 	}
/******/ 	
/************************************************************************/
/******/ 	/* webpack/runtime/compat */
/******/ 	
/******/ 	if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = __dirname + "/";
/******/ 	
/************************************************************************/
var __webpack_exports__ = {};
// This entry need to be wrapped in an IIFE because it uses a non-standard name for the exports (exports).
(() => {
var exports = __webpack_exports__;

Object.defineProperty(exports, "__esModule", ({ value: true }));
const run_1 = __nccwpck_require__(4175);
(0, run_1.runCli)(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(status => {
    process.exitCode = status;
}, (error) => {
    process.stderr.write(`nixos-fleet-update: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
});

})();

module.exports = __webpack_exports__;
/******/ })()
;