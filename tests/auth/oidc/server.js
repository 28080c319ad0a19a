// A real OpenID Connect provider for the auth tests (panva/oidc-provider, dev interactions).
// Env: PORT, REDIRECT_URI. Accounts are whatever login the test types; a login starting with
// "verified+" has email_verified=true, "unverified+" false; the email is the rest.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'neo',
    client_secret: 'neo-client-secret',
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['neo-test-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id.replace(/^(un)?verified\+/, ''),
          email_verified: id.startsWith('verified+'),
          name: `Test ${id}`,
        };
      },
    };
  },
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
