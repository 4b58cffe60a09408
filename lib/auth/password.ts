/** Password hashing: argon2id through Bun.password (PHC strings, so parameters can change later). */

export function hashPassword(password: string): Promise<string> {
  if (!password) throw new Error("An empty password cannot be hashed.");
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/** False (never a throw) for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** Spends the time of one verify, so an unknown user name is not told apart by timing. */
export async function burnVerify(password: string): Promise<void> {
  dummy ??= hashPassword("not-a-real-password");
  await verifyPassword(password, await dummy);
}
