import { signLinkToken } from './link-token';
import { LinkSigner } from './link-signer';
import { verifyAccessToken } from './push/access-token';

const signer = new LinkSigner(Buffer.from('a test key of 32 bytes, no more.'), 'https://herald.test');
/** A token signed with the right key around any payload: what a leaked key would allow. */
const forged = (payload: unknown) => signLinkToken(signer.secret, payload as never);

describe('LinkSigner.verify', () => {
  it('gives back what Herald signs', () => {
    const payload = { k: 'c' as const, w: 'default', p: 'user:ada', m: 'm1', ch: 'email', u: 'https://example.com/' };
    expect(signer.verify(signer.sign(payload))).toEqual(payload);
    expect(signer.verify(`${signer.sign(payload)}x`)).toBeUndefined();
  });

  it('refuses a validly signed payload of a shape Herald never signs, instead of handing it on', () => {
    for (const payload of [
      [1, 2],
      'text',
      null,
      { k: 'x', w: 'default', p: 'user:ada' },
      { k: 'u', w: 'default', p: { toString: 1 } },
      { k: 'u', w: 7, p: 'user:ada' },
      { k: 'c', w: 'default', p: 'user:ada', u: ['https://example.com/'] },
      { k: 'i', w: 'default', p: 'user:ada', e: 1e308 },
      { k: 'i', w: 'default', p: 'user:ada', e: 1.5 },
    ]) {
      expect({ payload, verified: signer.verify(forged(payload), 0) }).toEqual({ payload, verified: undefined });
    }
  });

  it('an access token whose expiry no date can hold is not valid (it was a 500 when its grant was read)', () => {
    const token = forged({ k: 'i', w: 'default', p: 'user:ada', e: 1e308 });
    expect(verifyAccessToken(signer, token, new Date('2026-03-01T00:00:00Z'))).toBeUndefined();
  });
});
