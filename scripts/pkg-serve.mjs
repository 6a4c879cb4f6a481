// A tiny static server on 127.0.0.1 for the demo page (www/) and the
// browser tests. It serves only what a page needs from the repository:
//   /www/…  /pkg/…  /tests/pkg/…  /target/vectors-native.json
//   /target/pkg-test/… (the package's test build, with `replayCase`)
// and redirects / to /www/.
//
//   node scripts/pkg-serve.mjs [port]        (make www; default 8080)
//   import { serve } from "./pkg-serve.mjs"  (tests: port 0 = any free port)
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ALLOWED = ["/www/", "/pkg/", "/tests/pkg/", "/target/vectors-native.json", "/target/pkg-test/"];
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

export function serve({ port = 8080, host = "127.0.0.1", quiet = true } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    let path = decodeURIComponent(url.pathname);
    if (path === "/" || path === "/www") {
      res.writeHead(302, { location: "/www/" });
      return res.end();
    }
    if (path.endsWith("/")) path += "index.html";
    const file = normalize(join(ROOT, path));
    const allowed = file.startsWith(ROOT) && !file.slice(ROOT.length).split(sep).includes("..") &&
      ALLOWED.some((p) => path === p || (p.endsWith("/") && path.startsWith(p)));
    try {
      if (!allowed || !(await stat(file)).isFile()) throw new Error("not found");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] || "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(body);
      if (!quiet) console.log(`200 ${req.method} ${path}`);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      if (!quiet) console.log(`404 ${req.method} ${path}`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: p } = server.address();
      resolve({ server, url: `http://${host}:${p}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] || process.env.WWW_PORT || 8080);
  const { url } = await serve({ port, quiet: false });
  console.log(`Tollgate demo: ${url}/www/   (Ctrl-C to stop)`);
}
