package phxredis

import "strconv"

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// slot is the Redis Cluster hash slot of key (whose hash tag, if any, the
// caller has already extracted): CRC16-XMODEM mod 16384.
func slot(key string) int {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// bucketTags returns the hash tag of each of n buckets: prefix:b, or
// prefix:b.k for the smallest k that puts it in the b-th of n equal slot
// ranges. Buckets then spread over the slot space evenly, so a cluster
// whose masters own equal slot ranges (as redis-cli --cluster create
// makes) gets an equal share of them each. The tags are a function of
// prefix and n only: every node computes the same.
func bucketTags(prefix string, n int) []string {
	tags := make([]string, n)
	for b := range tags {
		lo, hi := b*clusterSlots/n, (b+1)*clusterSlots/n
		tag := prefix + ":" + strconv.Itoa(b)
		for k := 0; ; k++ {
			if s := slot(tag); s >= lo && s < hi {
				break
			}
			tag = prefix + ":" + strconv.Itoa(b) + "." + strconv.Itoa(k)
		}
		tags[b] = tag
	}
	return tags
}
