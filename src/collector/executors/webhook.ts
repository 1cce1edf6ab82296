import { describePost, postWithRetries } from './http.js'
import { SIGNATURE_HEADER, signBody } from './signature.js'
import { clip, type DispatchRequest, type DispatchResult, dispatchDocument, type Executor } from './types.js'

/** POSTs the replacement as signed JSON; a 2xx means the receiver took it on. */
export class WebhookExecutor implements Executor {
  readonly type = 'webhook'

  constructor(
    readonly options: {
      url: string
      secret: string
      timeoutMs: number
      retries: number
      baseDelayMs?: number
    },
    readonly clock: () => Date = () => new Date(),
  ) {}

  async dispatch(request: DispatchRequest): Promise<DispatchResult> {
    const body = JSON.stringify(dispatchDocument(request))
    const result = await postWithRetries(
      this.options.url,
      body,
      // Signed anew for every attempt, so that a retry's time is its own.
      () => ({ [SIGNATURE_HEADER]: signBody(this.options.secret, body, this.clock()) }),
      {
        timeoutMs: this.options.timeoutMs,
        retries: this.options.retries,
        ...(this.options.baseDelayMs === undefined ? {} : { baseDelayMs: this.options.baseDelayMs }),
      },
    )
    return { ok: result.ok, output: clip(`webhook ${describePost(result)}`) }
  }
}
