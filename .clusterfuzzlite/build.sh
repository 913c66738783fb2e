#!/bin/bash -eu
# Builds every fuzz target of fuzz/ for ClusterFuzzLite / OSS-Fuzz, with the committed seed
# corpus and the dictionary of each (see fuzz/README.md, "Campaigns").
cd "$SRC/xmpp-proto/fuzz"
cargo fuzz build -O --debug-assertions
release=target/x86_64-unknown-linux-gnu/release
for target in $(cargo fuzz list); do
  cp "$release/$target" "$OUT/"
  if [ -d "corpus/$target" ]; then
    (cd "corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
  if [ "$target" = jid ]; then
    cp dict/jid.dict "$OUT/$target.dict"
  else
    cp dict/xml.dict "$OUT/$target.dict"
  fi
done
