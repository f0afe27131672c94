// The reference for tests/unit/test_tokenizer.c: tiktoken's own tokenizer (the npm package's WASM
// build of openai/tiktoken, pinned by dist/tokenizer/package-lock.json) counts each text of a JSON
// array file. Prints {"o200k_base": [n, ...], "cl100k_base": [n, ...]}.
// usage: node tiktoken_ref.cjs TEXTS.json NODE_MODULES_DIR
const fs = require('fs');
const path = require('path');
const [file, modules] = process.argv.slice(2);
const { get_encoding } = require(path.resolve(modules, 'tiktoken'));
const texts = JSON.parse(fs.readFileSync(file, 'utf8'));
const out = {};
for (const name of ['o200k_base', 'cl100k_base']) {
  const enc = get_encoding(name);
  out[name] = texts.map((t) => enc.encode_ordinary(t).length);
  enc.free();
}
process.stdout.write(JSON.stringify(out));
