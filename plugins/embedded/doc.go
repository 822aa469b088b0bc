// Package embedded holds the default classroom plugins (chat, whiteboard,
// presence) compiled into the gateway binary, so a gateway started with no
// configuration serves them.
//
// The .wasm files are build products, not sources: plugins/build.sh (run by
// `make plugins`) writes them into the wasm directory beside this file and
// git ignores them. A binary built before `make plugins` still compiles; the
// host then reports "plugin chat not built: run make plugins".
package embedded
