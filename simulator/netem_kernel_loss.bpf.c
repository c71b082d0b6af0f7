/* Random loss made in the kernel, for the cross-check of parley-netem's
 * UDP loss (tests/e2e/test_netem_udp.py, phase kernel): a tc classifier
 * (direct action) that drops each packet with probability THRESHOLD /
 * 2^32, from the kernel's own generator. The test compiles it with
 *
 *   clang -O2 -target bpf -DTHRESHOLD=N -c netem_kernel_loss.bpf.c
 *
 * and attaches it to the egress of `lo` in a network namespace of its
 * own, where only the test's datagrams travel. No kernel headers are
 * needed: the helper number and the two verdicts are stable ABI. */
#define SEC(name) __attribute__((section(name), used))

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define BPF_FUNC_get_prandom_u32 7

static unsigned int (*get_prandom_u32)(void) =
    (void *)BPF_FUNC_get_prandom_u32;

SEC("classifier")
int netem_kernel_loss(void *skb)
{
  return get_prandom_u32() < THRESHOLD ? TC_ACT_SHOT : TC_ACT_OK;
}

char netem_license[] SEC("license") = "GPL";
