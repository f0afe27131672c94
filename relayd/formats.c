/* formats: see formats.h. */
#include "formats.h"

#include "provider.h"

const struct format *format_of_api(int api)
{
  switch ((enum upstream_api)api) {
  case UPSTREAM_ANTHROPIC:
    return &format_claude;
  case UPSTREAM_GEMINI:
    return &format_gemini;
  case UPSTREAM_RESPONSES:
    return &format_responses;
  default:
    return &format_openai;       /* openai, azure, cohere, jina: OpenAI's shapes */
  }
}

const struct format *format_of_channel(const struct format *client, const struct provider *p)
{
  if (client == &format_responses && (p->api == UPSTREAM_OPENAI || p->api == UPSTREAM_AZURE) &&
      provider_serves(p, PE_MEDIA))
    return &format_responses;
  return format_of_api(p->api);
}
