/** The enrolment secret and admin token every collector test configures. */
export const ENROLL_SECRET = 'enrol-secret-0123456789'
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
/** A manifest digest to register images with. */
export const DIGEST_A_FOR_IMAGES = `sha256:${'a'.repeat(64)}`
