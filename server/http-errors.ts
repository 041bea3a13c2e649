import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { NetunnelError, errorMessage } from '../common/errors.js';
import type { ErrorBody } from '../common/protocol.js';

/** Fastify's own request errors, said in a way a user can act on. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request body is empty; send a JSON object',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type; send JSON',
};

/**
 * Every error answer is `{"error": "<sentence>", "code": "<CODE>"}` with an honest status:
 * 4xx for what the caller can fix, 500 only for our own faults (which are logged).
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const body = describe(err);
    const status = err instanceof NetunnelError ? err.statusCode : (err.statusCode ?? 500);
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ status, error: body.error }, 'request refused');
    return reply.code(status).type('application/json').send(status >= 500 && !(err instanceof NetunnelError) ? internal() : body);
  });
  const methodsByPath = collectRouteMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const allowed = allowedMethods(methodsByPath, request.url);
    if (allowed.length === 0) {
      return reply.code(404).send({ error: `no such route: ${request.method} ${request.url}`, code: 'NOT_FOUND' } satisfies ErrorBody);
    }
    // The caller has the path right, only not the method: say which ones it takes (as aiohttp does).
    const error = `${request.method} is not allowed on ${request.url}; use ${allowed.length === 1 ? allowed[0] : `one of ${allowed.join(', ')}`}`;
    return reply.code(405).header('allow', allowed.join(', ')).send({ error, code: 'METHOD_NOT_ALLOWED' } satisfies ErrorBody);
  });
}

/** Every route's methods, by path pattern; call before the routes are registered. */
function collectRouteMethods(app: FastifyInstance): Map<string, Set<string>> {
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    methodsByPath.set(route.url, methods);
  });
  return methodsByPath;
}

function allowedMethods(methodsByPath: Map<string, Set<string>>, url: string): string[] {
  const segments = url.split('?', 1)[0].split('/');
  const matches = ([pattern]: [string, Set<string>]) => {
    const parts = pattern.split('/');
    return parts.length === segments.length && parts.every((part, i) => part === segments[i] || (part.startsWith(':') && segments[i] !== ''));
  };
  return [...methodsByPath].filter(matches).flatMap(([, methods]) => [...methods]).sort();
}

/**
 * A websocket's error after the upgrade. What the peer did (a frame breaking RFC 6455, a reset)
 * is its business, logged as it is; only a fault of our own handler is an error with a stack.
 */
export function websocketFailed(err: Error & { code?: string }, socket: { terminate(): void }, request: FastifyRequest): void {
  if (/^(WS_ERR_|E[A-Z]+$)/.test(err.code ?? '')) request.log.info({ url: request.url, code: err.code }, `websocket failed: ${err.message}`);
  else request.log.error({ err, url: request.url }, 'websocket handler failed');
  socket.terminate();
}

function describe(err: FastifyError): ErrorBody {
  if (err instanceof NetunnelError) return { error: err.message, code: err.code };
  if (err.validation) return { error: `invalid request: ${formatValidation(err)}`, code: 'BAD_REQUEST' };
  const known = err.code ? FASTIFY_MESSAGES[err.code] : undefined;
  return { error: known ?? errorMessage(err), code: (err.statusCode ?? 500) < 500 ? 'BAD_REQUEST' : 'INTERNAL' };
}

function formatValidation(err: FastifyError): string {
  const where = err.validationContext === 'params' ? 'URL' : (err.validationContext ?? 'request');
  return (err.validation ?? [])
    .filter((issue) => issue.keyword !== 'if')
    .map((issue) => {
      const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
      if (issue.keyword === 'required') return `${where} is missing '${String(issue.params.missingProperty)}'`;
      if (issue.keyword === 'additionalProperties') return `${where} has unknown field '${String(issue.params.additionalProperty)}'`;
      return `${field ? `'${field}'` : where} ${issue.message ?? 'is invalid'}`;
    })
    .join('; ');
}

function internal(): ErrorBody {
  return { error: 'internal server error; the server log has the details', code: 'INTERNAL' };
}

/** The original parses every body as JSON whatever its Content-Type; an empty body is "no body". */
export function installJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new NetunnelError('BAD_REQUEST', `the request body is not valid JSON: ${errorMessage(err)}`), undefined);
    }
  });
}
