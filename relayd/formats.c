/* formats: see formats.h. */
#include "formats.h"

#include "provider.h"

bool format_native(const struct format *client, const struct format *upstream)
{
  return client == upstream ||
         (upstream == &format_gemini && (client == &format_gemini_embed || client == &format_gemini_batch_embed));
}

const struct format *format_of_api(int api)
{
  switch ((enum upstream_api)api) {
  case UPSTREAM_ANTHROPIC:
    return &format_claude;
  case UPSTREAM_GEMINI:
    return &format_gemini;
  case UPSTREAM_BEDROCK:
    return &format_bedrock;
  default:
    return &format_openai;       /* openai, azure, cohere, jina: OpenAI's shapes */
  }
}
