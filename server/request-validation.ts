import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

// As Fastify's own defaults, except coercion, and unknown fields are kept so that a schema's
// additionalProperties: false refuses them with a 400 instead of dropping them silently.
// allErrors stays off: every error of a large body would be work an attacker could ask for.
const OPTIONS = { useDefaults: true, removeAdditional: false, addUsedSchema: false, allErrors: false } as const;

/**
 * Validates each part of a request with its schema. A JSON body is taken as sent: Fastify's
 * default turns `"reverse": "false"` into the boolean false and `"exit_port": "22"` into 22,
 * where the original reads a non-empty string as true, and a client that sends the wrong
 * type has a bug worth a 400. Route parameters arrive as strings by nature, so they (and
 * query strings, headers) are still coerced to the integers their schemas say.
 */
export function requestValidatorCompiler(): FastifySchemaCompiler<object> {
  const bodies = new Ajv({ ...OPTIONS, coerceTypes: false });
  const routeParts = new Ajv({ ...OPTIONS, coerceTypes: 'array' });
  return ({ schema, httpPart }) => {
    if (httpPart === 'body') return bodies.compile(schema);
    const validate = routeParts.compile(schema);
    return httpPart === 'params' ? digitsForIntegers(validate, schema) : validate;
  };
}

/**
 * ajv coerces "0x1", "1e0" and "1.0" to the integer 1; an id in a URL is digits, as in the
 * original's `\d+` routes.
 */
function digitsForIntegers(validate: ValidateFunction, schema: object): ValidateFunction {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const integers = Object.keys(properties).filter((name) => properties[name]?.type === 'integer');
  const check = ((params: Record<string, unknown>) => {
    const bad = integers.find((name) => typeof params[name] === 'string' && !/^\d+$/.test(params[name]));
    if (bad !== undefined) {
      const error: ErrorObject = { instancePath: `/${bad}`, schemaPath: `#/properties/${bad}/type`, keyword: 'type', params: { type: 'integer' }, message: 'must be integer' };
      check.errors = [error];
      return false;
    }
    const valid = validate(params);
    check.errors = validate.errors;
    return valid;
  }) as ValidateFunction;
  return check;
}
