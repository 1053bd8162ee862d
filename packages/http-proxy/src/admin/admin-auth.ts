import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Admin access: with a token, `Authorization: Bearer <token>` (compared in constant time); without one,
 * loopback clients only, so a fresh install is never an open admin API.
 */
export function adminGuard(token: string | undefined) {
  const expected = token ? Buffer.from(token) : undefined;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected) {
      const header = request.headers.authorization ?? '';
      const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: 'a valid Authorization: Bearer token is required' });
      }
      return;
    }
    const ip = request.socket.remoteAddress ?? '';
    if (!(ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'))) {
      await reply.code(403).send({
        error: 'forbidden',
        message: 'the admin API answers loopback clients only until ADMIN_TOKEN is set',
      });
    }
  };
}

export type AdminGuard = ReturnType<typeof adminGuard>;
