// The OpenID provider Ward's login tests run against: oidc-provider (a certified
// implementation) on 127.0.0.1, with one confidential client and the accounts the test
// gives. Only the interaction (the login form) is this file's: the test posts a login
// name to it; authorization, PKCE, tokens, keys and ID tokens are oidc-provider's own.
//
// Environment: ISSUER (http://127.0.0.1:PORT), CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// ACCOUNTS ({"bob": {"email": "...", "groups": ["care-dba"]}, ...}).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const issuer = process.env.ISSUER;
const port = Number(new URL(issuer).port);
const accounts = JSON.parse(process.env.ACCOUNTS ?? '{}');
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Every authorization request must carry an S256 challenge.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // The scopes' claims go in the ID token itself, where Ward reads them.
  conformIdTokenClaims: false,
  jwks: { keys: [jwk] },
  cookies: { keys: ['ward-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email,
          email_verified: account.email_verified ?? true,
          name: id,
          preferred_username: id,
          groups: account.groups ?? [],
        };
      },
    };
  },
});

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    if (!req.url.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html');
      res.end(`<form method="post"><input name="login"><button>Log in</button></form>`);
      return;
    }
    const login = (await body(req)).get('login');
    if (!accounts[login]) {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'unknown account',
      });
      return;
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: login }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
