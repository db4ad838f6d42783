// The OpenID provider of the tests: `oidc-provider` (npm) with its
// development sign-in pages, a public client for the console (code flow
// with PKCE), and a confidential client whose client-credentials access
// tokens (JWTs for the API's audience) carry a role and an organisation.
//
// Environment: OIDC_PROVIDER_MODULE (the package's lib/index.js), IDP_PORT,
// IDP_REDIRECT_URI (the console's callback), IDP_ACCOUNTS (JSON: login ->
// {role, org}; `machine` is the confidential client's), IDP_KEY_GENERATION
// (names the signing key: a restart with another generation is a key
// rotation).
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_MODULE).href);

const port = Number(process.env.IDP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.IDP_ACCOUNTS || '{}');
const generation = process.env.IDP_KEY_GENERATION || '1';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `test-key-${generation}`,
  alg: 'RS256',
  use: 'sig',
};

let jwksReads = 0;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'reserve-console',
      token_endpoint_auth_method: 'none',
      redirect_uris: [process.env.IDP_REDIRECT_URI || 'http://127.0.0.1/none'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    {
      client_id: 'reserve-machine',
      client_secret: 'machine-secret-for-the-tests-only-0123456789',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['a-cookie-key-for-the-tests-only-0123456789'] },
  claims: { openid: ['sub'], reserve: ['role', 'org'] },
  scopes: ['openid', 'reserve', 'api'],
  // The role and organisation go into the ID token itself.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, role: account.role, org: account.org }),
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, client) =>
        client.clientId === 'reserve-machine' ? 'urn:reserve:api' : undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: 'reserve-api',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async extraTokenClaims(_ctx, token) {
    if (token.kind === 'ClientCredentials' && accounts.machine) {
      return { role: accounts.machine.role, org: accounts.machine.org };
    }
    return undefined;
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/jwks-reads') {
    ctx.body = { reads: jwksReads };
    return;
  }
  if (ctx.path === '/jwks') jwksReads += 1;
  await next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${issuer} with key test-key-${generation}`);
});
